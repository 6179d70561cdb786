from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "okwallet.accounts"
    label = "accounts"
    verbose_name = "Accounts"
