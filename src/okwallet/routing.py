"""WebSocket routes, collected from the apps that speak WebSockets (``<app>/routing.py``).

An app's routing module may also name ``token_auth_paths``: the sockets that accept the app's
API token besides the session (``okwallet.core.websocket.SessionAuthMiddleware``)."""

from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.urls import path

from okwallet.core.consumers import PingConsumer

websocket_urlpatterns = [path("ws/ping/", PingConsumer.as_asgi())]
token_auth_paths: set[str] = set()
for _app in settings.OKWALLET_APPS:
    _name = f"okwallet.{_app}.routing"
    if find_spec(_name) is not None:
        # getattr: a routing.py may be about something else (helpdesk's ticket routing)
        _module = import_module(_name)
        websocket_urlpatterns += getattr(_module, "websocket_urlpatterns", [])
        token_auth_paths.update(getattr(_module, "token_auth_paths", ()))
