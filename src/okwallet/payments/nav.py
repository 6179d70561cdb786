from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

PORTAL_LINKS = [
    NavLink("payments:home", _("Wallet"), order=10),
    NavLink("payments:records", _("Transactions"), order=20),
]
CONSOLE_LINKS = [
    NavLink("payments:console_reconciliation", _("Reconciliation"), shortcut="g r", order=65),
]
