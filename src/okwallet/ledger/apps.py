from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "okwallet.ledger"
    label = "ledger"
    verbose_name = "Ledger"
