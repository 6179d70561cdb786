from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

PORTAL_LINKS = [NavLink("chat:page", _("Online service"), public=True, order=60)]
CONSOLE_LINKS = [
    NavLink("chat:console", _("Live chat"), shortcut="g c", order=30),
    NavLink("chat:console_supervise", _("Live chat monitor"), shortcut="g m", order=75),
]
