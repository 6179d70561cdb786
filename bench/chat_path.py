"""The chat message path in one process: SQL statements and CPU per message, old path vs new.

    .venv/bin/python bench/chat_path.py                  # SQLite, 100 chats, 2,000 customer messages per path
    .venv/bin/python bench/chat_path.py --database-url postgres://postgres@127.0.0.1:5432/okw_bench
    options: --chats N --messages M --answer-every K --memory-sockets S --paths old,new

Drives the real production stack (``okwallet.asgi.application``: origin check, session auth,
the chat consumers, the in-process channel layer) through Channels' ``WebsocketCommunicator``,
so no network and no load generator is involved: N visitors in chats an agent has accepted,
each sending messages in a closed loop (the next once the ack is back), and agents (100 chats
each, watching them all) answering every K-th message they receive.

- **old**: ``OKWALLET_CHAT_GROUP_COMMIT = False`` — one transaction per message in Channels'
  database thread (``services.message_post``), as before the writer;
- **new**: the group-commit writer (``okwallet.chat.writer``).

Reported per stored message (customers' and agents'): SQL statements through Django's cursor
(every statement, BEGIN and SAVEPOINT included; COMMIT is not a cursor statement), process CPU
(all threads; the in-process client's JSON work included), and wall-clock throughput; then the
Python heap per idle chat socket (tracemalloc, after a warm-up) with Channels'
``AuthMiddlewareStack`` and with the production stack, next to a bare echo consumer on the same
communicator. Run another tree's code with ``OKWALLET_SRC=/path/to/src`` (``--paths old`` if it
has no writer).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.environ.get("OKWALLET_SRC") or str(ROOT / "src"))

COUNTS: collections.Counter = collections.Counter()
_count_lock = threading.Lock()


def _count(execute, sql, params, many, context):
    with _count_lock:
        COUNTS[sql.lstrip().split(None, 1)[0].upper()] += 1
    return execute(sql, params, many, context)


def setup(database_url: str) -> None:
    var = tempfile.mkdtemp(prefix="okw-chat-path-")
    os.environ.update(
        {
            "OKWALLET_VAR_DIR": var,
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "DJANGO_SETTINGS_MODULE": "okwallet.settings",
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.backends.signals import connection_created

    if database_url:
        # a fresh schema every run
        call_command("flush", interactive=False, verbosity=0) if _has_tables() else None
    call_command("migrate", verbosity=0)
    settings.OKWALLET_CHAT_RATE_PER_S = 100_000  # the bench sends faster than a person types
    settings.OKWALLET_CHAT_BURST = 100_000

    def hook(sender, connection, **kwargs):
        if _count not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count)

    connection_created.connect(hook, weak=False)
    connection.ensure_connection()
    hook(None, connection)


def _has_tables() -> bool:
    from django.db import connection

    return "chat_conversation" in connection.introspection.table_names()


def seed(n_chats: int, per_agent: int = 100):
    """Agents with sessions and n_chats accepted visitor chats; returns (keys, public ids, cookies)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.accounts.services import staff_create
    from okwallet.chat.models import Conversation, Participant
    from okwallet.chat.selectors import visitor_hash
    from okwallet.core.timeutil import now_utc
    from okwallet.hours.models import Schedule

    ensure_role_groups()
    Schedule.objects.update_or_create(
        code="chat", defaults={"name_zh": "在线客服", "name_en": "Chat", "always_open": True}
    )
    agents, cookies = [], []
    for i in range(-(-n_chats // per_agent)):
        u = staff_create(
            username=f"path{i}-{secrets.token_hex(3)}",
            password=secrets.token_urlsafe(12),
            role="agent",
            display_name=f"Agent {i}",
        )
        s = SessionStore()
        s[SESSION_KEY], s[BACKEND_SESSION_KEY] = str(u.pk), settings.AUTHENTICATION_BACKENDS[0]
        s[HASH_SESSION_KEY] = u.get_session_auth_hash()
        s.create()
        agents.append(u)
        cookies.append(s.session_key)
    keys = [secrets.token_urlsafe(18) for _ in range(n_chats)]
    now = now_utc()
    Conversation.objects.bulk_create(
        [
            Conversation(
                visitor_hash=visitor_hash(k),
                status="active",
                agent=agents[i // per_agent],
                queued_at=now,
                accepted_at=now,
            )
            for i, k in enumerate(keys)
        ]
    )
    by_hash = {
        c.visitor_hash: c
        for c in Conversation.objects.filter(visitor_hash__in=[visitor_hash(k) for k in keys])
    }
    convs = [by_hash[visitor_hash(k)] for k in keys]
    Participant.objects.bulk_create(
        [Participant(conversation=c, role="customer") for c in convs]
        + [
            Participant(conversation=c, user=agents[i // per_agent], role="agent")
            for i, c in enumerate(convs)
        ]
    )
    return keys, [c.public_id for c in convs], cookies


def _headers(cookie: str | None = None):
    h = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if cookie:
        h.append((b"cookie", f"sessionid={cookie}".encode()))
    return h


async def run_path(app, keys, pids, cookies, *, messages: int, answer_every: int, per_agent: int = 100):
    """Closed loop: every visitor sends messages/len(keys) messages; agents answer some."""
    from channels.testing import WebsocketCommunicator

    agents = []
    for a, cookie in enumerate(cookies):
        ws = WebsocketCommunicator(app, "/ws/chat/agent/", headers=_headers(cookie))
        ok, _ = await ws.connect(timeout=30)
        assert ok, "agent socket refused"
        await ws.receive_from(timeout=30)  # welcome
        for pid in pids[a * per_agent : (a + 1) * per_agent]:
            await ws.send_to(text_data=json.dumps({"type": "watch", "conversation": pid}))
        agents.append(ws)
    customers = []
    for key in keys:
        ws = WebsocketCommunicator(app, f"/ws/chat/?visitor={key}", headers=_headers())
        ok, _ = await ws.connect(timeout=30)
        assert ok, "customer socket refused"
        customers.append(ws)

    async def drain_agent(ws, counters: dict):
        # no timeout: the communicator cancels the application when a receive times out
        seen = 0
        while True:
            f = json.loads(await ws.receive_from(timeout=3600))
            if f.get("type") == "message" and f.get("sender") == "customer":
                counters["delivered"] += 1
                seen += 1
                if answer_every and seen % answer_every == 0:
                    await ws.send_to(
                        text_data=json.dumps(
                            {
                                "type": "message",
                                "conversation": f["conversation"],
                                "text": "好的，马上为您处理",
                                "client_id": f"a{time.time_ns()}",
                            }
                        )
                    )

    per_customer = max(1, messages // len(customers))

    async def customer(ws, n, rounds):
        for i in range(rounds):
            await ws.send_to(
                text_data=json.dumps(
                    {"type": "message", "text": f"{time.time()} 你好", "client_id": f"{n}-{i}"}
                )
            )
            while True:
                f = json.loads(await ws.receive_from(timeout=60))
                if f.get("type") == "ack":
                    break
                if f.get("type") == "error":
                    raise RuntimeError(f)

    counters = {"delivered": 0}
    drains = [asyncio.ensure_future(drain_agent(ws, counters)) for ws in agents]  # counts from here
    # warm-up (connections, caches), not measured
    await asyncio.gather(*(customer(ws, f"w{n}", 2) for n, ws in enumerate(customers)))
    warm_deadline = time.perf_counter() + 60
    while counters["delivered"] < 2 * len(customers) and time.perf_counter() < warm_deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    before = _stored()
    with _count_lock:
        COUNTS.clear()
    counters["delivered"] = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(customer(ws, n, per_customer) for n, ws in enumerate(customers)))
    deadline = time.perf_counter() + 120  # a loaded machine: the agents may lag behind
    while counters["delivered"] < per_customer * len(customers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    wall = time.perf_counter() - t0  # every customer message acked and delivered
    # the agents' last answers: until nothing more is stored
    settled = _stored()
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.3)
        now = _stored()
        if now == settled:
            break
        settled = now
    cpu = time.process_time() - cpu0
    with _count_lock:
        counts = dict(COUNTS)
    stored = _stored() - before
    for t in drains:
        t.cancel()
    await asyncio.gather(*drains, return_exceptions=True)
    for ws in customers + agents:
        await ws.disconnect()
    return {
        "stored": stored,
        "customer_messages": per_customer * len(customers),
        "delivered_to_agents": counters["delivered"],
        "statements": sum(counts.values()),
        "by_kind": counts,
        "cpu_s": cpu,
        "wall_s": wall,
    }


def _stored() -> int:
    from asgiref.sync import SyncToAsync

    from okwallet.chat.models import Message

    # from a thread: the ORM refuses to run in the event loop
    return SyncToAsync.single_thread_executor.submit(Message.objects.count).result()


async def idle_heap_per_socket(app, keys, *, warm: int = 20) -> float:
    """Python heap (tracemalloc) per idle customer socket, after ``warm`` sockets are open."""
    import gc
    import tracemalloc

    from channels.testing import WebsocketCommunicator

    async def open_one(key):
        ws = WebsocketCommunicator(app, f"/ws/chat/?visitor={key}", headers=_headers())
        ok, _ = await ws.connect(timeout=30)
        assert ok
        await ws.receive_from(timeout=30)  # welcome
        while not await ws.receive_nothing(timeout=0.05):  # replayed messages
            await ws.receive_from()
        return ws

    socks = [await open_one(k) for k in keys[:warm]]
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for k in keys[warm:]:
        socks.append(await open_one(k))
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    for ws in socks:
        await ws.disconnect()
    return grown / max(1, len(keys) - warm) / 1024


def echo_app():
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import URLRouter
    from django.urls import path

    class Echo(AsyncWebsocketConsumer):
        async def receive(self, text_data=None, bytes_data=None):
            await self.send(text_data=text_data)

    return URLRouter([path("ws/chat/", Echo.as_asgi())])


async def echo_heap_per_socket(n: int, warm: int = 20) -> float:
    import gc
    import tracemalloc

    from channels.testing import WebsocketCommunicator

    app = echo_app()
    socks = []
    for i in range(n + warm):
        if i == warm:
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        ws = WebsocketCommunicator(app, "/ws/chat/", headers=_headers())
        await ws.connect(timeout=30)
        socks.append(ws)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    for ws in socks:
        await ws.disconnect()
    return grown / n / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chats", type=int, default=100)
    ap.add_argument("--messages", type=int, default=2000, help="customer messages per path")
    ap.add_argument("--answer-every", type=int, default=5)
    ap.add_argument("--memory-sockets", type=int, default=300)
    ap.add_argument("--paths", default="old,new")
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    setup(args.database_url)
    from django.conf import settings
    from django.db import connection

    from okwallet.asgi import application

    paths = [p for p in args.paths.split(",") if p]
    print(
        f"chat_path: {connection.vendor}, {args.chats} chats, {args.messages} customer messages per path, "
        f"agents answer every {args.answer_every}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = {}
    for p in paths:
        settings.OKWALLET_CHAT_GROUP_COMMIT = p == "new"
        keys, pids, cookies = seed(args.chats)
        r = asyncio.run(
            run_path(application, keys, pids, cookies, messages=args.messages, answer_every=args.answer_every)
        )
        if p == "new":
            from okwallet.chat import writer

            w = writer.get_writer()
            r["batches"], r["batched"] = w.batches, w.messages
            writer.shutdown()
        results[p] = r
        n = max(1, r["stored"])
        kinds = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(r["by_kind"].items(), key=lambda kv: -kv[1]))
        extra = f"; {r['batched'] / max(1, r['batches']):.1f} messages per batch" if p == "new" else ""
        print(
            f"{p:>3}: stored {r['stored']} ({r['customer_messages']} customer, {r['stored'] - r['customer_messages']} agent), "
            f"delivered to agents {r['delivered_to_agents']}; {r['statements'] / n:.2f} SQL statements/message "
            f"({kinds}); CPU {r['cpu_s'] / n * 1000:.2f} ms/message; "
            f"{r['customer_messages'] / r['wall_s']:.0f} customer messages/s{extra}",
            flush=True,
        )
    if len(results) == 2:
        old, new = results["old"], results["new"]
        print(
            f"new/old: statements {new['statements'] / max(1, new['stored']):.2f} vs "
            f"{old['statements'] / max(1, old['stored']):.2f} per message, CPU "
            f"{new['cpu_s'] / max(1, new['stored']) * 1000:.2f} vs {old['cpu_s'] / max(1, old['stored']) * 1000:.2f} ms",
            flush=True,
        )
    if args.memory_sockets:
        from channels.auth import AuthMiddlewareStack
        from channels.routing import URLRouter
        from channels.security.websocket import AllowedHostsOriginValidator

        from okwallet.routing import websocket_urlpatterns

        n = args.memory_sockets
        keys, _, _ = seed(n + 20)
        old_stack = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        echo = asyncio.run(echo_heap_per_socket(n))
        heap_old = asyncio.run(idle_heap_per_socket(old_stack, keys))
        keys, _, _ = seed(n + 20)
        heap_new = asyncio.run(idle_heap_per_socket(application, keys))
        print(
            f"Python heap per idle socket ({n} sockets, communicator included): bare echo consumer {echo:.1f} KB; "
            f"chat with Channels' AuthMiddlewareStack {heap_old:.1f} KB; chat with the production stack {heap_new:.1f} KB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
