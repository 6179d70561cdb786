from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "okwallet.portal"
    label = "portal"
    verbose_name = "Customer portal"
