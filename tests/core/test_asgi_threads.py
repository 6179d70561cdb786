"""okwallet.asgi: on SQLite every request's synchronous code runs on one of a fixed set of threads
(one persistent connection each), never on a new thread per request."""

import asyncio
import threading

import pytest


def _call(app, path="/healthz"):
    async def go():
        sent = []
        calls = []

        async def receive():
            calls.append(1)
            if len(calls) == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)  # the client stays connected; cancelled when the response is sent

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"host", b"localhost")],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        return sent

    # In a thread of its own: a browser test on this worker may have left an event loop running
    # in the main thread (Playwright's sync API), where asyncio.run refuses to start.
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("sent", asyncio.run(go())))
    runner.start()
    runner.join(30)
    return result["sent"]


@pytest.mark.django_db(transaction=True)
def test_requests_reuse_the_shared_threads(monkeypatch):
    from django.core.signals import request_started

    from okwallet.asgi import SharedThreadASGIHandler

    seen = []

    def record(**kwargs):
        seen.append(threading.current_thread().name)

    request_started.connect(record)
    try:
        app = SharedThreadASGIHandler(2)
        for _ in range(6):
            sent = _call(app)
            assert sent[0]["status"] == 200
    finally:
        request_started.disconnect(record)
    assert len(seen) == 6
    assert set(seen) <= {"django-sync-0_0", "django-sync-1_0"}  # never a fresh thread per request


def test_the_mode_follows_the_environment(monkeypatch):
    from okwallet.asgi import sync_threads

    monkeypatch.setenv("OKWALLET_ASGI_SYNC_THREAD", "per-request")
    assert sync_threads() == 0
    monkeypatch.setenv("OKWALLET_ASGI_SYNC_THREAD", "shared")
    assert sync_threads() == 1
    monkeypatch.setenv("OKWALLET_ASGI_SYNC_THREAD", "3")
    assert sync_threads() == 3
