from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "okwallet.payments"
    label = "payments"
    verbose_name = "Payments"
