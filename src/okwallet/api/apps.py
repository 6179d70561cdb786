from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "okwallet.api"
    label = "api"
    verbose_name = "API"
