"""Menu entries contributed by the domain apps, so no app edits the shared base templates.

An app may ship ``okwallet/<app>/nav.py`` with ``PORTAL_LINKS`` (customer menu, shown to
signed-in customers unless ``public`` is true) and ``CONSOLE_LINKS`` (agent console menu), each
a list of ``NavLink``. Apps are read in ``settings.OKWALLET_APPS`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavLink:
    url_name: str
    label: str  # a gettext_lazy string
    public: bool = False  # portal: shown to anonymous visitors too
    shortcut: str = ""  # console: e.g. "g t"
    permission: str = ""  # console: a permission codename the user must hold, e.g. "helpdesk.view_dashboard"
    order: int = 100  # position in the menu (lower first), so the menu reads in task order, not app order


@cache
def _links(kind: str) -> tuple[NavLink, ...]:
    found: list[NavLink] = []
    for app in settings.OKWALLET_APPS:
        name = f"okwallet.{app}.nav"
        if find_spec(name) is None:
            continue
        found.extend(getattr(import_module(name), kind, []))
    return tuple(sorted(found, key=lambda link: link.order))


def _resolve(links, user, *, console: bool) -> list[dict]:
    items = []
    for link in links:
        if not console and not link.public and not user.is_authenticated:
            continue
        if console and link.permission and not user.has_perm(link.permission):
            continue
        try:
            url = reverse(link.url_name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": link.label, "shortcut": link.shortcut})
    return items


def _site_notices(request) -> list[dict]:
    from okwallet.core.hooks import collect_flat

    return collect_flat("site_notices", request)


def navigation(request) -> dict:
    """Context processor: ``portal_links``, ``console_links`` and ``site_notices`` (from every app's
    ``hooks.site_notices(request) -> list[{"level": "info|warning|error", "text": ...}]``)."""
    from django.utils.functional import SimpleLazyObject

    user = getattr(request, "user", None)
    notices = SimpleLazyObject(lambda: _site_notices(request))
    if user is None:
        return {"portal_links": [], "console_links": [], "site_notices": notices}
    return {
        "portal_links": _resolve(_links("PORTAL_LINKS"), user, console=False),
        "console_links": _resolve(_links("CONSOLE_LINKS"), user, console=True) if user.is_staff else [],
        "site_notices": notices,
    }
