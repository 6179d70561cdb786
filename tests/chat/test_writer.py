"""The group-commit writer: batches from every socket, numbered in order, stored once, durable first."""

from __future__ import annotations

import asyncio
import secrets
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from okwallet.chat import services
from okwallet.chat.errors import ChatEnded, ChatForbidden
from okwallet.chat.models import Conversation, Message
from okwallet.chat.writer import ChatWriter, WriterStopped

from .conftest import run_async

CUSTOMER, AGENT = Message.Sender.CUSTOMER, Message.Sender.AGENT


def _active(agent, *, customer=None) -> Conversation:
    """A chat an agent has accepted (a visitor's unless ``customer`` is given)."""
    key = "" if customer else secrets.token_urlsafe(18)
    conv, _ = services.conversation_start(customer=customer, visitor_key=key)
    services.conversation_handoff(conversation_id=conv.pk)
    services.conversation_accept(conversation_id=conv.pk, agent=agent)
    conv.refresh_from_db()
    return conv


def _texts(conv) -> list[tuple[int, str]]:
    return list(Message.objects.filter(conversation=conv, seq__gt=0).values_list("seq", "body"))


def _seqs_are_gapless(conv) -> bool:
    conv.refresh_from_db()
    seqs = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("seq", flat=True))
    return seqs == list(range(1, conv.last_seq + 1))


def test_one_batch_numbers_every_conversation_in_submission_order(agent, chat_open):
    convs = [_active(agent) for _ in range(3)]
    before = {c.pk: c.last_seq for c in convs}
    w = ChatWriter(autostart=False)
    futures = [
        w.submit(conversation_id=convs[i % 3].pk, sender=CUSTOMER, text=f"m{i}", client_id=f"c{i}")
        for i in range(30)
    ]
    with CaptureQueriesContext(connection) as queries:
        w.stop()  # never started: writes the queue in this thread, where queries can be counted
    results = [f.result(0) for f in futures]

    assert w.batches == 1
    sql = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    work = [s for s in sql if s not in ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT")]
    assert work == ["UPDATE", "SELECT", "INSERT"]  # 30 messages, 3 conversations, 3 statements
    for k, conv in enumerate(convs):
        mine = [r for i, r in enumerate(results) if i % 3 == k]
        assert [r.seq for r in mine] == list(range(before[conv.pk] + 1, before[conv.pk] + 11))
        assert [body for _, body in _texts(conv)[-10:]] == [f"m{i}" for i in range(k, 30, 3)]
        assert _seqs_are_gapless(conv)
    assert all(r.created for r in results)
    assert results[0].payload["conversation"] == convs[0].public_id


def test_a_resent_client_id_is_stored_once_in_one_batch_and_across_batches(agent, chat_open):
    conv = _active(agent)
    w = ChatWriter(autostart=False)
    a = w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="你好", client_id="same")
    b = w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="你好", client_id="same")
    c = w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="其他", client_id="other")
    w.stop()
    first, again, other = a.result(0), b.result(0), c.result(0)
    assert (first.created, again.created) == (True, False)
    assert again.seq == first.seq and other.seq == first.seq + 1

    later = ChatWriter(autostart=False)
    retry = later.submit(conversation_id=conv.pk, sender=CUSTOMER, text="你好", client_id="same")
    later.stop()
    assert retry.result(0).seq == first.seq and retry.result(0).created is False
    assert Message.objects.filter(conversation=conv, client_id="same").count() == 1
    assert _seqs_are_gapless(conv)


def test_refused_messages_fail_alone_and_give_their_numbers_back(agent, make_staff, alice, chat_open):
    conv = _active(agent)
    ended = _active(agent, customer=alice)
    services.conversation_end(conversation_id=ended.pk, by="customer")
    other_agent = make_staff("bystander", "agent")
    start = Conversation.objects.get(pk=conv.pk).last_seq

    w = ChatWriter(autostart=False)
    ok1 = w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="一")
    forbidden = w.submit(
        conversation_id=conv.pk, sender=AGENT, author=other_agent, text="我不是这个会话的客服"
    )
    late = w.submit(conversation_id=ended.pk, sender=CUSTOMER, author=alice, text="结束以后")
    missing = w.submit(conversation_id=10**9, sender=CUSTOMER, text="没有这个会话")
    ok2 = w.submit(conversation_id=conv.pk, sender=AGENT, author=agent, text="二")
    w.stop()

    assert isinstance(forbidden.exception(0), ChatForbidden)
    assert isinstance(late.exception(0), ChatEnded)
    assert isinstance(missing.exception(0), Conversation.DoesNotExist)
    assert (ok1.result(0).seq, ok2.result(0).seq) == (start + 1, start + 2)
    assert ok2.result(0).payload["author"] == agent.display_name
    assert _seqs_are_gapless(conv)
    assert not Message.objects.filter(conversation=ended, body="结束以后").exists()


def test_a_database_error_in_one_message_rolls_back_the_batch_and_only_it_fails(agent, chat_open):
    from okwallet.accounts.models import User

    conv = _active(agent)
    start = conv.last_seq
    ghost = User(pk=10**9, username="ghost")  # no such row: its foreign key fails at commit
    w = ChatWriter(autostart=False)
    good = [
        w.submit(conversation_id=conv.pk, sender=CUSTOMER, text=f"好{i}", client_id=f"g{i}") for i in range(3)
    ]
    bad = w.submit(conversation_id=conv.pk, sender=CUSTOMER, author=ghost, text="坏", client_id="bad")
    good.append(w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="好3", client_id="g3"))
    w.stop()

    assert bad.exception(0) is not None
    assert [f.result(0).seq for f in good] == [start + 1, start + 2, start + 3, start + 4]
    assert [body for _, body in _texts(conv)[-4:]] == ["好0", "好1", "好2", "好3"]
    assert _seqs_are_gapless(conv)


def test_a_chat_with_the_assistant_gets_its_answer_right_after_the_message(
    visitor_key, bot_answers, chat_open
):
    from okwallet.chat import integrations

    bot_answers["密码"] = integrations.BotReply(
        answer="在“我的 → 安全”里重设密码。",
        title="重设密码",
        url="/help/p/",
        slug="p",
        confidence=0.9,
        confident=True,
    )
    conv, _ = services.conversation_start(visitor_key=visitor_key)
    w = ChatWriter(autostart=False)
    first = w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="怎么改密码")
    second = w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="还有密码")
    w.stop()
    rows = list(Message.objects.filter(conversation=conv).values_list("seq", "sender"))
    s1, s2 = first.result(0).seq, second.result(0).seq
    assert (s1 + 1, "bot") in rows and s2 == s1 + 2 and (s2 + 1, "bot") in rows
    assert _seqs_are_gapless(conv)


def test_concurrent_threads_into_one_conversation_keep_each_senders_order(agent, chat_open):
    conv = _active(agent)
    start = conv.last_seq
    w = ChatWriter(max_wait_s=0.005)
    results: dict[int, list] = {}

    def sender(n):
        futures = [
            w.submit(conversation_id=conv.pk, sender=CUSTOMER, text=f"{n}:{i}", client_id=f"t{n}-{i}")
            for i in range(25)
        ]
        results[n] = [f.result(30) for f in futures]

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    w.stop()
    assert sum(len(r) for r in results.values()) == 100
    for got in results.values():
        seqs = [r.seq for r in got]
        assert seqs == sorted(seqs)  # each sender's messages in the order it sent them
    assert _seqs_are_gapless(conv) and conv.last_seq == start + 100
    assert w.batches < 100  # they were grouped


def test_two_writers_as_two_servers_never_store_a_retry_twice(agent, chat_open):
    """Two processes' writers on the same conversations (PostgreSQL: row locks in id order; SQLite:
    one writer at a time), each sent every frame once, in opposite orders: every frame is stored
    once, both servers answer with its number, and numbers stay gapless."""
    convs = [_active(agent) for _ in range(3)]
    writers = [ChatWriter(max_wait_s=0.003), ChatWriter(max_wait_s=0.003)]
    futures: list[list] = [[], []]

    def server(k):
        order = range(30) if k == 0 else range(29, -1, -1)
        for i in order:
            futures[k].append(
                (
                    i,
                    writers[k].submit(
                        conversation_id=convs[i % 3].pk, sender=CUSTOMER, text=f"{i}", client_id=f"both-{i}"
                    ),
                )
            )

    threads = [threading.Thread(target=server, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results = [{i: f.result(60) for i, f in futures[k]} for k in (0, 1)]
    for w in writers:
        w.stop()
    assert Message.objects.filter(client_id__startswith="both-").count() == 30
    for i in range(30):
        first, second = results[0][i], results[1][i]
        assert first.seq == second.seq and first.created != second.created
    for conv in convs:
        assert _seqs_are_gapless(conv)


def test_stop_stores_what_is_still_queued_and_then_refuses(agent, chat_open):
    conv = _active(agent)
    start = conv.last_seq
    w = ChatWriter(max_batch=1000, max_wait_s=5.0)  # lingers: the messages are still queued at stop
    futures = [w.submit(conversation_id=conv.pk, sender=CUSTOMER, text=f"最后{i}") for i in range(5)]
    w.stop(timeout=10)
    assert [f.result(0).seq for f in futures] == list(range(start + 1, start + 6))
    assert Message.objects.filter(conversation=conv, body__startswith="最后").count() == 5
    with pytest.raises(WriterStopped):
        w.submit(conversation_id=conv.pk, sender=CUSTOMER, text="太晚了")


def test_sockets_deliver_only_stored_messages_in_order_and_ack_after(agent, socket, chat_open, settings):
    """Many customers sending at once through the real stack: every message the agent receives and
    every ack is already in the database, numbers arrive in order, and the writer grouped them."""
    from okwallet.chat import writer

    settings.OKWALLET_CHAT_RATE_PER_S = 1000
    settings.OKWALLET_CHAT_DEFAULT_CAPACITY = 10
    keys = [secrets.token_urlsafe(18) for _ in range(6)]
    convs = []
    for key in keys:
        conv, _ = services.conversation_start(visitor_key=key)
        services.conversation_handoff(conversation_id=conv.pk)
        services.conversation_accept(conversation_id=conv.pk, agent=agent)
        convs.append(Conversation.objects.get(pk=conv.pk))

    @database_sync_to_async
    def stored(pid, seq) -> bool:
        try:
            return Message.objects.filter(conversation__public_id=pid, seq=seq).exists()
        finally:
            connection.close()  # this helper's thread outlives the test (PostgreSQL test teardown)

    @database_sync_to_async
    def agent_sockets_left() -> bool:
        from okwallet.chat.models import AgentSocket

        try:
            return AgentSocket.objects.filter(user=agent).exists()
        finally:
            connection.close()

    async def go():
        a = socket("/ws/chat/agent/", user=agent)
        assert (await a.connect())[0]
        await a.expect("welcome")
        for conv in convs:
            await a.send(type="watch", conversation=conv.public_id)
            await a.expect("watching", conversation=conv.public_id)
        customers = [socket(f"/ws/chat/?visitor={key}") for key in keys]
        for c in customers:
            await c.connect()
            await c.expect("welcome")
        await a.drain(0.3)

        async def send_all(c, n):
            acks = []
            for i in range(8):
                await c.send(type="message", text=f"{n}-{i}", client_id=f"s{n}-{i}")
            for _ in range(8):
                ack = await c.expect("ack", timeout=10)
                assert await stored(convs[n].public_id, ack["seq"])  # acked ⇒ stored
                acks.append(ack["seq"])
            return acks

        acks = await asyncio.gather(*(send_all(c, n) for n, c in enumerate(customers)))
        got: dict[str, list[int]] = {}
        while sum(len(v) for v in got.values()) < 48:
            frame = await a.expect("message", timeout=10, sender="customer")
            assert await stored(frame["conversation"], frame["seq"])  # delivered ⇒ stored
            got.setdefault(frame["conversation"], []).append(frame["seq"])
        for n, conv in enumerate(convs):
            assert got[conv.public_id] == sorted(got[conv.public_id]) == acks[n]
        for c in customers:
            await c.close()
        await a.close()
        # The agent socket's goodbye is written in Channels' database thread: wait for it, then
        # close that thread's connection (the PostgreSQL test database is dropped at the end).
        for _ in range(100):
            if not await agent_sockets_left():
                break
            await asyncio.sleep(0.05)

    run_async(go)
    assert writer.get_writer().batches < 48
    for conv in convs:
        assert _seqs_are_gapless(conv)


def test_a_socket_sends_numbers_in_order_when_their_events_arrive_out_of_order(
    alice, agent, socket, chat_open
):
    """The writer and Channels' database thread (or two servers) publish independently, so a
    later message's event can arrive first: the socket reads the gap from the database."""
    from channels.layers import get_channel_layer

    from okwallet.chat import events

    conv = _active(agent, customer=alice)

    def post_quietly():
        with events.collecting() as sink:  # stored, events held back
            for text in ("第一条", "第二条"):
                services.message_post(conversation_id=conv.pk, sender=AGENT, author=agent, body=text)
        return list(sink)

    async def go():
        c = socket("/ws/chat/", user=alice)
        await c.connect()
        welcome = await c.expect("welcome")
        await c.drain(0.3)
        first, second = await database_sync_to_async(post_quietly)()
        layer = get_channel_layer()
        await layer.group_send(*second)
        await layer.group_send(*first)
        got = [await c.expect("message"), await c.expect("message")]
        assert [(m["seq"], m["text"]) for m in got] == [
            (welcome["last_seq"] + 1, "第一条"),
            (welcome["last_seq"] + 2, "第二条"),
        ]
        assert not [f for f in await c.drain(0.3) if f.get("type") == "message"]  # nothing twice
        await c.close()

    run_async(go)


def test_the_process_writer_stores_its_queue_at_shutdown_and_a_new_one_starts_after(agent, chat_open):
    from okwallet.chat import writer

    conv = _active(agent)
    first = writer.get_writer()
    futures = [first.submit(conversation_id=conv.pk, sender=CUSTOMER, text=f"退出前{i}") for i in range(3)]
    writer.shutdown()  # what atexit runs when uvicorn stops
    assert all(f.result(0).created for f in futures)
    assert Message.objects.filter(conversation=conv, body__startswith="退出前").count() == 3
    second = writer.get_writer()
    assert second is not first
    assert second.submit(conversation_id=conv.pk, sender=CUSTOMER, text="重启后").result(10).created


def test_without_group_commit_sockets_store_one_transaction_per_message(alice, socket, chat_open, settings):
    settings.OKWALLET_CHAT_GROUP_COMMIT = False

    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.send(type="handoff")
        await s.expect("status", status="queued")
        await s.send(type="message", text="不经过写入线程", client_id="direct")
        first = await s.expect("ack")
        await s.send(type="message", text="不经过写入线程", client_id="direct")
        again = await s.expect("ack")
        assert again["seq"] == first["seq"] and again["duplicate"] is True
        await s.close()

    run_async(go)
    assert Message.objects.filter(client_id="direct").count() == 1


async def _agent_watching_and_customer(socket, agent, customer, conv):
    """The agent's socket watching ``conv`` and the customer's connected; returns them and the
    customer's welcome."""
    a = socket("/ws/chat/agent/", user=agent)
    await a.connect()
    await a.expect("welcome")
    await a.send(type="watch", conversation=conv.public_id)
    await a.expect("watching")
    await a.drain(0.3)
    c = socket("/ws/chat/", user=customer)
    await c.connect()
    welcome = await c.expect("welcome")
    return a, c, welcome


def test_the_senders_own_copy_is_its_ack_and_everyone_gets_each_message_once(alice, agent, socket, chat_open):
    """One frame per message to its sender (the copy with ``ack``), the plain copy to the others;
    a re-sent ``client_id`` is answered with an ``ack`` frame, never a second copy."""
    conv = _active(agent, customer=alice)

    async def go():
        a, c, welcome = await _agent_watching_and_customer(socket, agent, alice, conv)
        await c.drain(0.3)
        base = welcome["last_seq"]
        for i in range(3):
            await c.send(type="message", text=f"第{i}条", client_id=f"own{i}")
        await a.send(type="message", conversation=conv.public_id, text="收到", client_id="agent1")
        to_customer = await c.drain(0.5)
        to_agent = await a.drain(0.5)
        mine = [f for f in to_customer if f.get("sender") == "customer"]
        assert [(f["type"], f["client_id"], f["ack"], f["duplicate"]) for f in mine] == [
            ("message", f"own{i}", True, False) for i in range(3)
        ]
        assert not [f for f in to_customer if f["type"] == "ack"]  # the copy was the ack
        seen_by_customer = [f["seq"] for f in to_customer if f["type"] == "message"]
        assert seen_by_customer == list(range(base + 1, base + 5))  # in order, each once
        reply = next(f for f in to_customer if f.get("sender") == "agent")
        assert "ack" not in reply and reply["client_id"] == "agent1"
        own_reply = [f for f in to_agent if f.get("sender") == "agent"]
        assert len(own_reply) == 1 and own_reply[0]["ack"] is True  # the agent's copy is its ack
        assert not [f for f in to_agent if f["type"] == "ack"]
        customers = [f for f in to_agent if f.get("sender") == "customer"]
        assert [f["client_id"] for f in customers] == ["own0", "own1", "own2"]
        assert not [f for f in customers if "ack" in f]
        # the same client_id again: stored once, answered by an ack frame (seq already sent here)
        await c.send(type="message", text="第0条", client_id="own0")
        again = await c.expect("ack")
        assert again["type"] == "ack" and again["duplicate"] is True and again["seq"] == mine[0]["seq"]
        assert not [f for f in await a.drain(0.3) if f["type"] == "message"]
        await c.close()
        await a.close()

    run_async(go)
    assert Message.objects.filter(conversation=conv, client_id="own0").count() == 1
    assert _seqs_are_gapless(conv)


def test_a_reply_stored_in_the_same_batch_reaches_the_customer_before_its_own_ack(
    alice, agent, socket, chat_open, settings, monkeypatch
):
    """The agent's reply and the customer's message committed together: the customer's socket
    sends the reply first, then its own copy with the ack, from what it received (no gap read
    from the database), and the sender gets its copy once, from itself, not from the layer."""
    from okwallet.chat import selectors, writer

    writer.shutdown()
    settings.OKWALLET_CHAT_WRITER_WAIT_MS = 200  # both frames wait for one batch
    conv = _active(agent, customer=alice)
    gap_reads = []
    original = selectors.messages_between
    monkeypatch.setattr(
        selectors, "messages_between", lambda *a, **k: gap_reads.append(a) or original(*a, **k)
    )

    async def go():
        a, c, welcome = await _agent_watching_and_customer(socket, agent, alice, conv)
        await c.drain(0.3)
        await a.drain(0.1)
        await a.send(type="message", conversation=conv.public_id, text="您好，请讲", client_id="r1")
        await asyncio.sleep(0.02)  # the reply is queued first
        await c.send(type="message", text="我的提现没到账", client_id="m1")
        got = [f for f in await c.drain(0.8) if f["type"] in ("message", "ack")]
        await c.close()
        await a.close()
        return welcome["last_seq"], got

    base, got = run_async(go)
    writer.shutdown()
    assert [(f["type"], f["seq"], f.get("client_id"), f.get("ack")) for f in got] == [
        ("message", base + 1, "r1", None),
        ("message", base + 2, "m1", True),
    ]
    assert gap_reads == []
    assert _seqs_are_gapless(conv)


def test_on_sqlite_the_writers_commits_leave_the_wal_checkpoint_to_its_own_thread(agent, chat_open):
    """SQLite would checkpoint inside the commit that passes 1,000 WAL pages, with every socket's
    message waiting; the writer's connection has autocheckpoint off and a PASSIVE checkpoint
    runs from another connection after commits."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    conv = _active(agent)
    w = ChatWriter(max_wait_s=0)
    try:
        for i in range(3):
            posted = w.submit(
                conversation_id=conv.pk, sender=AGENT, author=agent, text=f"第{i}条", client_id=f"w{i}"
            ).result(10)
            assert posted.created
        for _ in range(100):
            if w.checkpoints:
                break
            threading.Event().wait(0.05)
        assert w.checkpoints >= 1
        assert w._sqlite_tuned is not None
    finally:
        w.stop()
    assert [t for _, t in _texts(conv)][-3:] == ["第0条", "第1条", "第2条"]


@pytest.mark.django_db
def test_the_duplicate_check_reads_the_client_id_index_not_the_conversations_messages():
    """The writer's check for re-sent frames must be an index lookup per (conversation, client
    id), whatever the conversations' length: on SQLite only a query that names the partial
    index's condition can use it (without it every message of the batch's conversations was read)."""
    from types import SimpleNamespace

    from okwallet.chat.writer import _stored_duplicates

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's query plan")
    items = [SimpleNamespace(conversation_id=c, client_id=f"c{c}-{k}") for c in (1, 2) for k in range(3)]
    with CaptureQueriesContext(connection) as queries:
        assert _stored_duplicates(items) == {}
    [query] = queries.captured_queries
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + query["sql"])
        plan = " ".join(row[-1] for row in cur.fetchall())
    assert "chat_msg_client_id_once" in plan and "client_id=?" in plan
