"""Chat over real uvicorn processes: two servers sharing PostgreSQL and Redis, and a restart
in the middle of a conversation that loses nothing."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import requests
from websockets.asyncio.client import connect

from tests.chat.conftest import is_ack, run_async, session_cookie
from tests.chat.servers import Server, chat_always_open

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Client:
    def __init__(self, ws):
        self.ws, self.backlog = ws, []

    async def send(self, **frame):
        await self.ws.send(json.dumps(frame))

    async def expect(self, type_, timeout=10.0, **match):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, f in enumerate(self.backlog):
                if (is_ack(f) if type_ == "ack" else f.get("type") == type_) and all(
                    f.get(k) == v for k, v in match.items()
                ):
                    return self.backlog.pop(i)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {type_} {match}; got {self.backlog}")
            try:
                self.backlog.append(json.loads(await asyncio.wait_for(self.ws.recv(), remaining)))
            except TimeoutError as exc:
                raise AssertionError(f"no {type_} {match}; got {self.backlog}") from exc


_cookies: dict[int, str] = {}


def cookie_for(user) -> str:
    """Log in once per user, in sync code (the ORM refuses to run inside the event loop)."""
    if user.pk not in _cookies:
        _cookies[user.pk] = session_cookie(user)
    return _cookies[user.pk]


def ws_connect(server: Server, path: str, user):
    return connect(
        server.ws + path,
        additional_headers=[("Cookie", f"sessionid={_cookies[user.pk]}"), ("Origin", server.url)],
        open_timeout=10,
    )


def http_post(server: Server, user, path: str, data: dict) -> requests.Response:
    s = requests.Session()
    s.cookies.set("sessionid", _cookies[user.pk])
    page = s.get(server.url + "/console/chat/", timeout=20)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return s.post(
        server.url + path, data={**data, "csrfmiddlewaretoken": token}, timeout=20, allow_redirects=False
    )


@pytest.fixture
def servers(tmp_path):
    started = []
    _cookies.clear()

    def make(redis_url: str = "", **env: str) -> Server:
        server = Server(redis_url=redis_url, var_dir=str(tmp_path), env=env).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


async def _conversation(alice, agent, customer_server: Server, agent_server: Server):
    from asgiref.sync import sync_to_async

    from okwallet.chat.models import Conversation

    async with (
        ws_connect(customer_server, "/ws/chat/", alice) as cws,
        ws_connect(agent_server, "/ws/chat/agent/", agent) as aws,
    ):
        c, a = Client(cws), Client(aws)
        await c.expect("welcome")
        await a.expect("welcome")
        await c.send(type="handoff")
        await c.expect("status", status="queued")
        await c.expect("queue")
        await a.expect("queue_changed")  # queue update: customer's server → agent's server
        conv = await sync_to_async(Conversation.objects.get)(customer=alice)
        resp = await asyncio.to_thread(
            http_post, agent_server, agent, f"/console/chat/{conv.public_id}/accept/", {}
        )
        assert resp.status_code == 302
        status = await c.expect("status", status="active")  # agent's server → customer's server
        assert status["agent"] == "客服 小周"
        await a.send(type="watch", conversation=conv.public_id)
        await a.expect("watching")
        await c.send(type="typing", on=True)
        assert (await a.expect("typing"))["role"] == "customer"
        await c.send(type="message", text="我的提现还没到", client_id="c-1")
        assert (await a.expect("message", sender="customer"))["text"] == "我的提现还没到"
        await a.send(type="typing", conversation=conv.public_id, on=True)
        assert (await c.expect("typing"))["role"] == "agent"
        await a.send(type="message", conversation=conv.public_id, text="马上为您查询", client_id="a-1")
        reply = await c.expect("message", sender="agent")
        await c.send(type="read", seq=reply["seq"])
        assert (await a.expect("read"))["seq"] == reply["seq"]
        return conv, reply["seq"]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("layer", ["", "stock"], ids=["local-first layer", "stock channels-redis layer"])
def test_customer_and_agent_on_two_servers_sharing_postgres_and_redis(alice, agent, servers, layer):
    """Both layers an operator may choose (OKWALLET_CHANNEL_LAYER): ours, and channels-redis'
    own, which cannot leave the sender out (its socket skips its own event)."""
    import os

    chat_always_open()
    cookie_for(alice), cookie_for(agent)
    redis_url = os.environ["OKWALLET_TEST_REDIS_URL"]
    one = servers(redis_url, OKWALLET_CHANNEL_LAYER=layer)
    two = servers(redis_url, OKWALLET_CHANNEL_LAYER=layer)
    assert one.port != two.port
    run_async(_conversation, alice, agent, one, two)


def test_restarting_the_server_mid_conversation_loses_nothing(alice, agent, servers):
    import os

    from okwallet.chat.models import Message

    chat_always_open()
    cookie_for(alice), cookie_for(agent)
    redis_url = os.environ.get("OKWALLET_TEST_REDIS_URL", "")
    server = servers(redis_url)

    async def go():
        conv, seen = await _conversation(alice, agent, server, server)
        await asyncio.to_thread(server.restart)  # every socket drops; nothing was only in memory
        async with ws_connect(server, "/ws/chat/agent/", agent) as aws:
            a = Client(aws)
            await a.expect("welcome")
            await a.send(type="watch", conversation=conv.public_id, last_seq=seen)
            await a.expect("watching")
            for i in range(3):
                await a.send(
                    type="message", conversation=conv.public_id, text=f"重启后第{i}条", client_id=f"r{i}"
                )
                await a.expect("ack")
        async with ws_connect(server, f"/ws/chat/?last_seq={seen}", alice) as cws:
            c = Client(cws)
            welcome = await c.expect("welcome")
            assert welcome["conversation"] == conv.public_id and welcome["status"] == "active"
            missed = [await c.expect("message") for _ in range(3)]
            assert [m["seq"] for m in missed] == [seen + 1, seen + 2, seen + 3]
            assert [m["text"] for m in missed] == ["重启后第0条", "重启后第1条", "重启后第2条"]
        return conv

    conv = run_async(go)
    seqs = list(Message.objects.filter(conversation=conv).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # gapless, nothing stored twice
