from django.apps import AppConfig


class HoursConfig(AppConfig):
    name = "okwallet.hours"
    label = "hours"
    verbose_name = "Service hours"

    def ready(self):
        from okwallet.hours import signals  # noqa: F401
