from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "okwallet.chat"
    label = "chat"
    verbose_name = "Live chat"
