from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "okwallet.console"
    label = "console"
    verbose_name = "Agent console"
