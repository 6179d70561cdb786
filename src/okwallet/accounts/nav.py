from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

PORTAL_LINKS = [
    NavLink("accounts:security", _("Security"), order=70),
]

CONSOLE_LINKS = [
    NavLink("accounts:console_security", _("Account security"), shortcut="g f", order=60),
]
