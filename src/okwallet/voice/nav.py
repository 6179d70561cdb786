from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

CONSOLE_LINKS = [NavLink("voice:calls", _("Calls"), shortcut="g p", order=40)]
