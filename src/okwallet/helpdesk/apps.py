from django.apps import AppConfig


class HelpdeskConfig(AppConfig):
    name = "okwallet.helpdesk"
    label = "helpdesk"
    verbose_name = "Service centre"

    def ready(self) -> None:
        from okwallet.helpdesk import signals

        signals.connect()
