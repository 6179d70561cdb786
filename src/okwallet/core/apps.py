from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "okwallet.core"
    label = "core"
    verbose_name = "Core"
