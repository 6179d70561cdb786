"""ASGI entry point: HTTP through Django, WebSockets through Channels' routing.

Django's ASGI handler runs each HTTP request's synchronous code (middleware, sync views, the
ORM) in a thread of its own (``ThreadSensitiveContext()`` per request): a new thread, and so a
new database connection, for every request. On SQLite that is the wrong shape: every request
opens the database again (file, PRAGMAs, WAL), and concurrent requests' writers fight over
SQLite's single write lock, where the losers sleep in the busy handler (1, 2, 5 … 100 ms steps)
while the lock is long free — measured with the hotline webhooks: 10 concurrent callers served
half as many webhooks per second as one caller, the process idle half the time
(docs/benchmarks.md "Hotline IVR").

``OKWALLET_ASGI_SYNC_THREAD``: ``shared`` runs the synchronous code of all requests of this
process on one thread (one persistent connection, writers in turn, no lock waits); a number N
uses N such threads (each request on the least busy one); ``per-request`` is Django's default (right for PostgreSQL, whose pool and row locks let requests overlap).
The default, ``auto``, is ``shared`` on SQLite and ``per-request`` otherwise.

WebSockets: origin check, then ``SessionAuthMiddleware`` (the session cookie, or the app token
on the sockets that take one, resolved once per connection; docs/chat.md "Connections")."""

import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "okwallet.settings")
django.setup(set_prefix=False)


class SharedThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler with a fixed set of threads for the synchronous code of the requests:
    each request runs all of its synchronous code on one of them (the least busy), so every thread
    keeps its database connection. One thread serialises the process's requests; a few let a slow
    one (a CSV export, a password hash) overlap with the rest at the cost of some lock waits."""

    def __init__(self, threads: int = 1):
        super().__init__()
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{i}") for i in range(threads)
        ]
        self.in_flight = [0] * threads

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        i = min(range(len(self.executors)), key=self.in_flight.__getitem__)
        self.in_flight[i] += 1
        try:
            async with ThreadSensitiveContext(executor=self.executors[i]):
                await self.handle(scope, receive, send)
        finally:
            self.in_flight[i] -= 1


def sync_threads() -> int:
    """0: Django's thread per request; N: N shared threads."""
    from django.conf import settings

    mode = os.environ.get("OKWALLET_ASGI_SYNC_THREAD", "auto").strip().lower()
    if mode == "per-request":
        return 0
    if mode == "shared":
        return 1
    if mode.isdigit():
        return int(mode)
    return 1 if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") else 0


_threads = sync_threads()
django_asgi_app = SharedThreadASGIHandler(_threads) if _threads else ASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from okwallet.core.websocket import websocket_stack  # noqa: E402
from okwallet.routing import token_auth_paths, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns), token_paths=token_auth_paths),
    }
)

# After start-up, keep the full garbage collections off the start-up heap (okwallet.core.readiness).
from okwallet.core import readiness  # noqa: E402

readiness.freeze_heap_when_warm()
