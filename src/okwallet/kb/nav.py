from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

PORTAL_LINKS = [NavLink("kb:home", _("Help centre"), public=True, order=30)]
