"""okwallet.asgi: every request's synchronous code runs on one of a fixed set of threads (one
persistent connection each on SQLite), never on a new thread per request, and in one hop from the
event loop (the signal, the middleware, the view and the close together)."""

import asyncio
import threading

import pytest


def _scope(path: str, *, method: str = "GET", headers=()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


def _call(app, path="/healthz", *, method="GET", headers=(), body=b""):
    async def go():
        sent = []
        calls = []

        async def receive():
            calls.append(1)
            if len(calls) == 1:
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)  # the client stays connected; cancelled when the response is sent

        async def send(message):
            sent.append(message)

        await app(_scope(path, method=method, headers=headers), receive, send)
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


def _body(sent) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.django_db(transaction=True)
def test_a_request_is_one_hop_to_its_thread_and_finishes_there():
    """request_started, the middleware chain, the view and request_finished (which hands the
    database connection back) all run in the request's thread, from one submission to it."""
    from django.core.signals import request_finished, request_started

    from okwallet.asgi import SharedThreadASGIHandler

    app = SharedThreadASGIHandler(1)
    seen, submitted = [], []
    executor = app.executors[0]
    submit = executor.submit

    def counting_submit(*args, **kwargs):
        submitted.append(1)
        return submit(*args, **kwargs)

    def record(signal):
        return lambda **kw: seen.append((signal, threading.current_thread().name))

    started, finished = record("started"), record("finished")
    executor.submit = counting_submit
    request_started.connect(started)
    request_finished.connect(finished)
    try:
        sent = _call(app)
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert sent[0]["status"] == 200 and b"ok" in _body(sent).lower()
    assert submitted == [1]
    assert seen == [("started", "django-sync-0_0"), ("finished", "django-sync-0_0")]


@pytest.mark.django_db(transaction=True)
def test_errors_csrf_and_a_streamed_export_through_the_one_hop_handler(make_customer):
    from django.test import Client

    from okwallet.asgi import SharedThreadASGIHandler

    app = SharedThreadASGIHandler(2)
    missing = _call(app, "/no-such-page/", headers=[(b"accept-language", b"en")])
    assert missing[0]["status"] == 404 and b"<html" in _body(missing)
    refused = _call(
        app,
        "/accounts/login/",
        method="POST",
        body=b"username=a&password=b",
        headers=[(b"content-type", b"application/x-www-form-urlencoded")],
    )
    assert refused[0]["status"] == 403  # no CSRF token: refused with the friendly page
    user = make_customer()
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    export = _call(app, "/wallet/records.csv", headers=[(b"cookie", cookie)])
    assert export[0]["status"] == 200
    headers = {k.lower(): v for k, v in export[0]["headers"]}
    assert headers[b"content-type"].startswith(b"text/csv")
    assert _body(export).count(b"\n") >= 1  # at least the header row, streamed


@pytest.mark.django_db(transaction=True)
def test_a_streamed_response_is_closed_even_when_sending_it_fails(make_customer):
    """request_finished (the database connection back to the pool) must follow a streamed export
    whose sending fails halfway, in the request's thread."""
    from django.core.signals import request_finished
    from django.test import Client

    from okwallet.asgi import SharedThreadASGIHandler

    app = SharedThreadASGIHandler(1)
    client = Client()
    client.force_login(make_customer())
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    finished = []

    def record(**kw):
        finished.append(threading.current_thread().name)

    async def go():
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            if message["type"] == "http.response.body":
                raise OSError("the client went away")

        with pytest.raises(OSError):
            await app(_scope("/wallet/records.csv", headers=[(b"cookie", cookie)]), receive, send)

    request_finished.connect(record)
    try:
        runner = threading.Thread(target=lambda: asyncio.run(go()))
        runner.start()
        runner.join(30)
    finally:
        request_finished.disconnect(record)
    assert finished == ["django-sync-0_0"]
