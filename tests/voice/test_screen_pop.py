"""CTI events reach the agent console over WebSockets: a screen-pop with IVR path and digits."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from okwallet.voice.models import Call
from tests.voice.conftest import Phone

pytestmark = pytest.mark.django_db(transaction=True)


def _run(coro_fn):
    """``coro_fn()`` on a fresh event loop in a worker thread: once a browser test on this xdist
    worker has started Playwright, its event loop counts as running in the main thread, where
    ``async_to_sync`` refuses to start (these tests errored whenever one ran before them)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


@pytest.fixture(autouse=True)
def _flush_layer():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        _run(layer.flush)
    yield


def _app():
    """The production stack (origin check, session auth), routing only the hotline's socket."""
    from channels.routing import URLRouter

    from okwallet.core.websocket import websocket_stack
    from okwallet.voice.routing import websocket_urlpatterns

    return websocket_stack(URLRouter(websocket_urlpatterns))


def _cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _socket_for(cookie: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        _app(),
        "/ws/console/calls/",
        headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost")],
    )


async def _next(socket, event: str, timeout: float = 5):
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        if message.get("event") == event:
            return message


def test_screen_pop_shows_caller_ivr_path_and_digits_then_the_answer(twilio_token, open_hours, agent, alice):
    phone = Phone(Client(), from_number=alice.phone)

    cookie = _cookie(agent)

    async def go():
        socket = _socket_for(cookie)
        connected, _ = await socket.connect()
        assert connected
        await sync_to_async(phone.dial)()
        ringing = await _next(socket, "ringing")
        assert ringing["call"]["customer_public_id"] == alice.public_id
        await sync_to_async(phone.press)("1")
        await sync_to_async(phone.press)("20261201000042#")
        queued = await _next(socket, "queued")
        assert queued["call"]["queue"] == "deposits"
        assert queued["call"]["ivr_path"][:3] == ["greeting", "menu:1", "reference"]
        assert [d["digits"] for d in queued["call"]["digits"]] == ["1", "20261201000042#"]
        assert "20261201000042" in queued["html"] and alice.public_id in queued["html"]
        assert "138****0001" in queued["html"]  # the caller's number is masked
        call = await sync_to_async(Call.objects.get)(call_sid=phone.sid)
        from okwallet.voice.services import call_take

        await sync_to_async(call_take)(call_id=call.pk, agent=agent)
        answered = await _next(socket, "answered")
        assert answered["mine"] is True and "screen-pop" in answered["html"]
        await sync_to_async(phone.hang_up)()
        ended = await _next(socket, "ended")
        assert ended["call"]["status"] == "ended"
        await socket.disconnect()

    _run(go)


def test_other_agents_pop_is_cleared_when_a_colleague_answers(twilio_token, open_hours, agent, manager):
    phone = Phone(Client())

    cookie = _cookie(manager)

    async def go():
        socket = _socket_for(cookie)
        assert (await socket.connect())[0]
        await sync_to_async(phone.dial)()
        await sync_to_async(phone.press)("0")
        await _next(socket, "queued")
        call = await sync_to_async(Call.objects.get)(call_sid=phone.sid)
        from okwallet.voice.services import call_take

        await sync_to_async(call_take)(call_id=call.pk, agent=agent)
        cleared = await _next(socket, "ended")
        assert cleared["mine"] is False and cleared["html"] == ""
        await socket.disconnect()

    _run(go)


def test_id_digits_keyed_for_verification_never_reach_the_console(twilio_token, open_hours, agent, alice):
    phone = Phone(Client())

    cookie = _cookie(agent)

    async def go():
        socket = _socket_for(cookie)
        assert (await socket.connect())[0]
        await sync_to_async(phone.dial)()
        for keys in ("2", "1", f"{alice.public_id}#", "4321", f"{alice.public_id}#", "4321"):
            await sync_to_async(phone.press)(keys)
        await sync_to_async(phone.press)(f"{alice.public_id}#")
        await sync_to_async(phone.press)("4321")
        queued = await _next(socket, "queued")
        assert all(d["node"] != "freeze_id_last4" for d in queued["call"]["digits"])
        assert "4321" not in queued["html"]
        await socket.disconnect()

    _run(go)


def test_customers_cannot_open_the_console_socket(alice):
    cookie = _cookie(alice)

    async def go():
        socket = _socket_for(cookie)
        connected, code = await socket.connect()
        assert not connected or code == 4403
        await socket.disconnect()

    _run(go)
