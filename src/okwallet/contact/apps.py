from django.apps import AppConfig


class ContactConfig(AppConfig):
    name = "okwallet.contact"
    label = "contact"
    verbose_name = "Contact channels"

    def ready(self):
        from okwallet.contact import signals  # noqa: F401
