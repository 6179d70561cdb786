"""Who is on a WebSocket: the session cookie (or an app token where allowed), resolved once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import path

from okwallet.core.websocket import websocket_stack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _close_database_thread_connection():
    """Channels' communicator turns off ``close_old_connections`` while it runs the app, so the
    middleware's database thread keeps its connection; close it after each test (PostgreSQL drops
    the test database at the end and refuses while a session is open)."""
    from asgiref.sync import SyncToAsync
    from django.db import connections

    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)


class WhoAmI(AsyncJsonWebsocketConsumer):
    """Says who the stack decided is connected, and what the scope keeps for the socket's life."""

    async def connect(self):
        await self.accept()
        user = self.scope["user"]
        await self.send_json(
            {
                "user_id": user.pk if user.is_authenticated else None,
                "by_token": bool(self.scope.get("okw_token_auth")),
                "user_class": type(user).__name__,
                "has_session": "session" in self.scope,
                "has_cookies": "cookies" in self.scope,
            }
        )


def _app():
    routes = [path("ws/chat/", WhoAmI.as_asgi()), path("ws/console/", WhoAmI.as_asgi())]
    return websocket_stack(URLRouter(routes), token_paths={"/ws/chat/"})


def _in_thread(fn, *args):
    """ORM work outside the test's event loop (and Playwright's, if it runs in this process)."""

    def call():
        from django.db import connections

        try:
            return fn(*args)
        finally:
            connections.close_all()  # this thread's (the PostgreSQL test database is dropped at the end)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _cookie_for(user) -> str:
    c = Client()
    c.force_login(user)
    return c.cookies["sessionid"].value


def _who(path: str, *, cookie: str = "", headers=(), subprotocols=None, origin=b"http://testserver"):
    async def go():
        hdrs = [(b"origin", origin), (b"host", b"testserver"), *headers]
        if cookie:
            hdrs.append((b"cookie", f"theme=dark; sessionid={cookie}".encode()))
        ws = WebsocketCommunicator(_app(), path, headers=hdrs, subprotocols=subprotocols)
        connected, _ = await ws.connect(timeout=5)
        if not connected:
            return None
        out = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return out

    return _in_thread(lambda: asyncio.run(go()))


def test_a_session_cookie_names_the_user_and_nothing_lazy_is_kept(alice):
    cookie = _in_thread(_cookie_for, alice)
    who = _who("/ws/console/", cookie=cookie)
    assert who == {
        "user_id": alice.pk,
        "by_token": False,
        "user_class": "User",
        "has_session": False,
        "has_cookies": False,
    }


def test_no_cookie_or_an_unknown_session_is_anonymous(alice):
    assert _who("/ws/console/")["user_id"] is None
    assert _who("/ws/console/", cookie="x" * 32)["user_id"] is None
    assert _who("/ws/console/")["user_class"] == "AnonymousUser"


def test_changing_the_password_logs_the_sockets_out_too(alice):
    cookie = _in_thread(_cookie_for, alice)

    def change():
        alice.set_password("a new long passphrase 2026")
        alice.save()

    _in_thread(change)
    assert _who("/ws/console/", cookie=cookie)["user_id"] is None


def test_a_deactivated_user_is_anonymous(alice):
    cookie = _in_thread(_cookie_for, alice)

    def deactivate():
        alice.is_active = False
        alice.save(update_fields=["is_active"])

    _in_thread(deactivate)
    assert _who("/ws/console/", cookie=cookie)["user_id"] is None


def test_app_tokens_count_only_on_the_sockets_that_take_them(alice, api_token_for):
    key = _in_thread(api_token_for, alice)
    by_header = _who("/ws/chat/", headers=[(b"authorization", f"Bearer {key}".encode())])
    assert (by_header["user_id"], by_header["by_token"]) == (alice.pk, True)
    by_protocol = _who("/ws/chat/", subprotocols=[f"okwallet.token.{key}"])
    assert by_protocol["user_id"] == alice.pk
    elsewhere = _who("/ws/console/", headers=[(b"authorization", f"Bearer {key}".encode())])
    assert elsewhere["user_id"] is None
    assert _who("/ws/chat/", headers=[(b"authorization", b"Bearer not-a-token")])["user_id"] is None


def test_the_session_wins_over_a_token(alice, bob, api_token_for):
    cookie = _in_thread(_cookie_for, alice)
    key = _in_thread(api_token_for, bob)
    who = _who("/ws/chat/", cookie=cookie, headers=[(b"authorization", f"Bearer {key}".encode())])
    assert (who["user_id"], who["by_token"]) == (alice.pk, False)


def test_a_foreign_origin_is_refused_before_anyone_is_looked_up(alice):
    cookie = _in_thread(_cookie_for, alice)
    assert _who("/ws/console/", cookie=cookie, origin=b"https://evil.example") is None
