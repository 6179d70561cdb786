from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "okwallet.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self):
        from okwallet.ops import jobs

        jobs.connect()
