from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from okwallet.api.api import api
from okwallet.core import views as core_views


def app_urls() -> list:
    """Each domain app with a ``urls.py`` is included at its ``url_prefix`` (default: the root)."""
    patterns = []
    for app in settings.OKWALLET_APPS:
        module_name = f"okwallet.{app}.urls"
        if find_spec(module_name) is None:
            continue
        module = import_module(module_name)
        patterns.append(path(getattr(module, "url_prefix", ""), include(module_name)))
    return patterns


urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    *app_urls(),
]

handler400 = "okwallet.core.views.bad_request"
handler403 = "okwallet.core.views.permission_denied"
handler404 = "okwallet.core.views.page_not_found"
handler500 = "okwallet.core.views.server_error"

admin.site.site_header = "OK Wallet back office"
