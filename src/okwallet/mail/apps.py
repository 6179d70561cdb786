from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "okwallet.mail"
    label = "mail"
    verbose_name = "Email channel"
