"""Helpers for chat socket tests: a communicator per person, speaking through the real ASGI stack."""

from __future__ import annotations

import asyncio
import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.testing import WebsocketCommunicator


@pytest.fixture(autouse=True)
def _chat_reference_data(transactional_db):
    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.chat import integrations

    ensure_role_groups()
    integrations.reset_caches()
    yield


def run_async(coro_fn, *args):
    """Run ``coro_fn(*args)`` on a fresh event loop in a worker thread.

    Not in this thread: once the browser tests have started Playwright, its event loop counts
    as running in the main thread, and ``asyncio.run`` / ``async_to_sync`` refuse to start here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn(*args))).result()


@pytest.fixture(autouse=True)
def _fresh_welcome_facts(settings):
    """Hours and wait estimates change inside tests: no caching of the welcome's facts."""
    settings.OKWALLET_CHAT_WELCOME_FACTS_TTL_S = 0


@pytest.fixture(autouse=True)
def _stop_chat_writer():
    """Each test gets a fresh group-commit writer; stopping it stores what is queued and closes
    its database connection before the test database is flushed."""
    from okwallet.chat import writer

    yield
    writer.shutdown()
    _close_database_thread_connections()


def _close_database_thread_connections():
    """Channels' communicator turns off ``close_old_connections`` while it runs the app, so the
    database thread keeps its connection between tests; close it (PostgreSQL drops the test
    database at the end and refuses while a session is open)."""
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)


@pytest.fixture(autouse=True)
def _flush_layer():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        run_async(layer.flush)
    yield


def _app():
    """The same stack as okwallet.asgi (origin check, session or app-token auth), routing only
    chat's sockets so other apps' work in progress cannot break these tests."""
    from channels.routing import URLRouter

    from okwallet.chat.routing import token_auth_paths, websocket_urlpatterns
    from okwallet.core.websocket import websocket_stack

    return websocket_stack(URLRouter(websocket_urlpatterns), token_paths=token_auth_paths)


def session_cookie(user) -> str:
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c.cookies["sessionid"].value


def is_ack(frame: dict) -> bool:
    """Does ``frame`` tell its sender that a message was stored (docs/chat.md "Protocol")?"""
    return frame.get("type") == "ack" or (frame.get("type") == "message" and frame.get("ack") is True)


class Socket:
    """A JSON WebSocket client over Channels' communicator."""

    def __init__(self, path: str, *, user=None, headers=None, subprotocols=None):
        hdrs = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
        if user is not None:
            # built in a worker thread: the ORM refuses to run inside the test's event loop
            with ThreadPoolExecutor(1) as pool:
                cookie = pool.submit(session_cookie, user).result()
            hdrs.append((b"cookie", f"sessionid={cookie}".encode()))
        hdrs += headers or []
        self.comm = WebsocketCommunicator(_app(), path, headers=hdrs, subprotocols=subprotocols)
        self.backlog: list[dict] = []

    async def connect(self):
        connected, code = await self.comm.connect(timeout=5)
        return connected, code

    async def send(self, **frame):
        await self.comm.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text=None, data=None):
        await self.comm.send_to(text_data=text, bytes_data=data)

    async def recv(self, timeout=3.0) -> dict:
        if self.backlog:
            return self.backlog.pop(0)
        return json.loads(await self.comm.receive_from(timeout=timeout))

    async def expect(self, type_: str, timeout=3.0, **match) -> dict:
        """Next frame of ``type_`` (matching the given fields); other frames are kept for later.

        ``type_="ack"`` matches what acknowledges a message (``is_ack``): the sender's own copy
        of its message (``"ack": true``) or, where that copy went out another way, an ``ack``
        frame."""
        skipped = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                for i, frame in enumerate(self.backlog):
                    if (is_ack(frame) if type_ == "ack" else frame.get("type") == type_) and all(
                        frame.get(k) == v for k, v in match.items()
                    ):
                        return self.backlog.pop(i)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"no {type_} {match} frame; got {skipped + self.backlog}")
                try:
                    frame = json.loads(await self.comm.receive_from(timeout=remaining))
                except TimeoutError as exc:
                    raise AssertionError(f"no {type_} {match} frame; got {skipped + self.backlog}") from exc
                self.backlog.append(frame)
        finally:
            pass

    async def drain(self, timeout=0.3) -> list[dict]:
        """Every frame that arrives within ``timeout`` (plus any kept from before)."""
        frames, self.backlog = self.backlog, []
        # receive_from's timeout would cancel the application; receive_nothing does not
        while not await self.comm.receive_nothing(timeout=timeout):
            frames.append(json.loads(await self.comm.receive_from()))
        return frames

    async def nothing(self, timeout=0.2) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def close(self):
        await self.comm.disconnect()

    async def closed_with(self, timeout=3.0):
        out = await self.comm.receive_output(timeout=timeout)
        while out["type"] == "websocket.send":
            out = await self.comm.receive_output(timeout=timeout)
        assert out["type"] == "websocket.close", out
        return out.get("code")


@pytest.fixture
def visitor_key():
    return secrets.token_urlsafe(24)


@pytest.fixture
def socket():
    return Socket


@pytest.fixture
def real_kb():
    """Use the help centre's real ``bot_answer`` (its first call builds the search index)."""
    from okwallet.chat import integrations

    if integrations._module("okwallet.kb.services") is None:
        pytest.skip("the help centre (kb) has not landed yet")
    from okwallet.kb.loader import load_articles
    from okwallet.kb.models import Article
    from okwallet.kb.search.engine import CACHE

    if not Article.objects.exists():  # an earlier transactional test flushed the shipped articles
        load_articles()
    CACHE._indexes, CACHE._version = {}, None
    integrations.bot_answer("预热", lang="zh-hans")


@pytest.fixture(autouse=True)
def bot_answers(request, monkeypatch):
    """Stand in for the help centre's ``bot_answer`` with fixed answers (tests asking for
    ``real_kb`` get the real one). This replaces the *kb* app, not the chat code under test:
    kb's answers change with its content and its first call takes seconds."""
    from okwallet.chat import integrations

    answers = {}
    if "real_kb" in request.fixturenames:
        return answers

    def fake(text, *, lang):
        for key, reply in answers.items():
            if key in text:
                return reply
        return integrations.BotReply(answer="", title="", url="", slug="", confidence=0.1, confident=False)

    monkeypatch.setattr(integrations, "bot_answer", fake)
    return answers


@pytest.fixture
def chat_open(monkeypatch):
    """Chat hours open (the hours app decides normally; tests must not depend on the clock)."""
    from okwallet.chat import integrations

    state = {"open": True, "next_open": None}
    monkeypatch.setattr(
        integrations,
        "chat_hours",
        lambda at=None: integrations.Hours(state["open"], state["next_open"], None),
    )
    return state
