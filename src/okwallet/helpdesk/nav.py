from django.utils.translation import gettext_lazy as _

from okwallet.core.navigation import NavLink

PORTAL_LINKS = [
    NavLink("helpdesk:portal_list", _("My requests"), order=40),
    NavLink("helpdesk:portal_complaint", _("Complaints & suggestions"), order=50),
]
CONSOLE_LINKS = [
    NavLink("helpdesk:inbox", _("Tickets"), shortcut="g t", order=10),
    NavLink("helpdesk:customers", _("Customers"), shortcut="g u", order=20),
    NavLink("helpdesk:dashboard", _("Dashboard"), shortcut="g d", order=80),
]
