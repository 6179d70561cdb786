from django.apps import AppConfig


class AntifraudConfig(AppConfig):
    name = "okwallet.antifraud"
    label = "antifraud"
    verbose_name = "Anti-fraud"
