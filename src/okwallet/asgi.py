"""ASGI entry point: HTTP through Django, WebSockets through Channels' routing.

Django's ASGI handler runs each HTTP request's synchronous code (middleware, sync views, the
ORM) in a thread of its own (``ThreadSensitiveContext()`` per request): a new thread, and so a
new database connection, for every request. On SQLite that is the wrong shape: every request
opens the database again (file, PRAGMAs, WAL), and concurrent requests' writers fight over
SQLite's single write lock, where the losers sleep in the busy handler (1, 2, 5 … 100 ms steps)
while the lock is long free — measured with the hotline webhooks: 10 concurrent callers served
half as many webhooks per second as one caller, the process idle half the time
(docs/benchmarks.md "Hotline IVR").

It also hops between the event loop and that thread five times per request (the request_started
signal, the middleware chain, back to the loop for the view handler, the view, the response's
close): /healthz cost 0.6 ms of CPU in process and 2.4–4 ms through uvicorn. Every middleware
here is synchronous and so is every view, so ``SharedThreadASGIHandler`` runs the whole request —
signal, middleware, view, close — in one hop (docs/decisions/0003-one-hop-http.md).

``OKWALLET_ASGI_SYNC_THREAD``: ``shared`` runs the synchronous code of all requests of this
process on one thread (one persistent connection, writers in turn, no lock waits); a number N
uses N such threads (each request on the least busy one); ``per-request`` is Django's own handler.
The default, ``auto``, is ``shared`` on SQLite and 8 threads on PostgreSQL (its pool and row locks
let requests overlap).

WebSockets: origin check, then ``SessionAuthMiddleware`` (the session cookie, or the app token
on the sockets that take one, resolved once per connection; docs/chat.md "Connections")."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "okwallet.settings")
django.setup(set_prefix=False)


class SharedThreadASGIHandler(ASGIHandler):
    """Django's ASGI handler with a fixed set of threads for the synchronous code of the requests:
    each request runs all of its synchronous code on one of them (the least busy), so every thread
    keeps its database connection. One thread serialises the process's requests; a few let a slow
    one (a CSV export, a password hash) overlap with the rest at the cost of some lock waits."""

    def __init__(self, threads: int = 1):
        # Not ASGIHandler.__init__, which only loads the middleware chain in async mode: the
        # synchronous chain runs whole in the request's thread (_respond).
        self.load_middleware(is_async=False)
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

    async def handle(self, scope, receive, send):
        """Django's ASGIHandler.handle with one hop to the request's thread instead of five. Not
        kept: the task that cancels the view when the client disconnects (a synchronous view
        cannot be cancelled anyway)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client left while the response was sent
            finally:
                if response.streaming:  # closed after its content, sent or not, in the request's thread
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """In the request's thread: request_started, the middleware chain and the view, and, for a
        response whose content is already in memory, its close (request_finished: the database
        connection goes back to the pool before the response is sent)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            response = error_response
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response


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
    return 1 if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") else 8


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
