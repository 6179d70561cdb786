from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

CONSOLE_LINKS = [
    NavLink("mail:inbound", _("Email intake"), shortcut="g e", order=50),
    NavLink("mail:outbox", _("Email outbox"), shortcut="g o", order=55),
]
