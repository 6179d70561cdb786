"""The in-process channel layer: the Channels layer contract, expiry, and flat per-message cost."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull

from okwallet.chat.layers import InProcessChannelLayer
from tests.chat.conftest import run_async


def run(coro):
    async def wrapper():
        return await coro

    return run_async(wrapper)


def test_send_then_receive_returns_a_copy_of_the_message():
    async def go():
        layer = InProcessChannelLayer()
        msg = {"type": "chat.message", "body": {"text": "你好"}}
        await layer.send("worker", msg)
        msg["body"]["text"] = "changed"
        got = await layer.receive("worker")
        assert got == {"type": "chat.message", "body": {"text": "你好"}}

    run(go())


def test_receive_waits_until_a_message_arrives():
    async def go():
        layer = InProcessChannelLayer()
        name = await layer.new_channel()
        task = asyncio.create_task(layer.receive(name))
        await asyncio.sleep(0.01)
        assert not task.done()
        await layer.send(name, {"type": "x", "n": 1})
        assert await asyncio.wait_for(task, 1) == {"type": "x", "n": 1}
        assert layer.stats()["channels"] == 0  # nothing left behind

    run(go())


def test_messages_on_one_channel_keep_their_order():
    async def go():
        layer = InProcessChannelLayer()
        for i in range(20):
            await layer.send("c", {"type": "x", "i": i})
        assert [(await layer.receive("c"))["i"] for _ in range(20)] == list(range(20))

    run(go())


def test_full_channel_raises_channel_full():
    async def go():
        layer = InProcessChannelLayer(capacity=3)
        for i in range(3):
            await layer.send("c", {"type": "x", "i": i})
        with pytest.raises(ChannelFull):
            await layer.send("c", {"type": "x", "i": 3})

    run(go())


def test_channel_capacity_patterns_override_the_default():
    async def go():
        layer = InProcessChannelLayer(capacity=1, channel_capacity={"big.*": 5})
        for i in range(5):
            await layer.send("big.one", {"type": "x"})
        await layer.send("small", {"type": "x"})
        with pytest.raises(ChannelFull):
            await layer.send("small", {"type": "x"})

    run(go())


def test_group_send_reaches_every_member_and_discard_stops_it():
    async def go():
        layer = InProcessChannelLayer()
        a, b = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("chat.conv.1", a)
        await layer.group_add("chat.conv.1", b)
        await layer.group_send("chat.conv.1", {"type": "m", "t": 1})
        assert (await layer.receive(a))["t"] == 1
        assert (await layer.receive(b))["t"] == 1
        await layer.group_discard("chat.conv.1", b)
        await layer.group_send("chat.conv.1", {"type": "m", "t": 2})
        assert (await layer.receive(a))["t"] == 2
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(b), 0.05)

    run(go())


def test_group_send_can_leave_out_one_member():
    async def go():
        layer = InProcessChannelLayer()
        sender, other = await layer.new_channel(), await layer.new_channel()
        for name in (sender, other):
            await layer.group_add("chat.conv.1", name)
        await layer.group_send("chat.conv.1", {"type": "m", "t": 1}, exclude=sender)
        assert (await layer.receive(other))["t"] == 1
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(sender), 0.05)

    run(go())


def test_group_send_skips_a_full_member():
    async def go():
        layer = InProcessChannelLayer(capacity=1)
        await layer.group_add("g", "full")
        await layer.group_add("g", "ok")
        await layer.send("full", {"type": "x"})
        await layer.group_send("g", {"type": "y"})
        assert (await layer.receive("ok"))["type"] == "y"
        assert (await layer.receive("full"))["type"] == "x"

    run(go())


def test_expired_messages_are_dropped_and_the_channel_leaves_its_groups():
    async def go():
        layer = InProcessChannelLayer(expiry=0.05)
        await layer.group_add("g", "stale")
        await layer.group_send("g", {"type": "x"})
        await asyncio.sleep(0.1)
        await layer.send("other", {"type": "tick"})  # any operation sweeps what is due
        assert layer.stats()["groups"] == 0
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive("stale"), 0.05)

    run(go())


def test_group_membership_expires():
    async def go():
        layer = InProcessChannelLayer(group_expiry=0.05)
        await layer.group_add("g", "c")
        await asyncio.sleep(0.1)
        await layer.group_send("g", {"type": "x"})
        assert layer.stats()["channels"] == 0

    run(go())


def test_cancelled_receiver_does_not_lose_a_message_sent_from_another_thread():
    async def go():
        layer = InProcessChannelLayer()
        waiting = asyncio.create_task(layer.receive("c"))
        await asyncio.sleep(0.01)
        done = threading.Event()

        def send_from_sync_code():
            async_to_sync(layer.send)("c", {"type": "x", "n": 7})
            done.set()

        # the sending thread's loop is a different one: the receiver is woken thread-safely
        threading.Thread(target=send_from_sync_code).start()
        waiting.cancel()
        await asyncio.sleep(0.05)
        assert done.is_set()
        if waiting.cancelled():
            assert (await asyncio.wait_for(layer.receive("c"), 1))["n"] == 7
        else:
            assert waiting.result()["n"] == 7

    run(go())


def test_sync_code_can_send_to_a_receiver_in_another_loop():
    async def go():
        layer = InProcessChannelLayer()
        task = asyncio.create_task(layer.receive("c"))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(async_to_sync(layer.send), "c", {"type": "x", "v": "sync"})
        assert (await asyncio.wait_for(task, 1))["v"] == "sync"

    run(go())


def test_flush_forgets_everything():
    async def go():
        layer = InProcessChannelLayer()
        await layer.send("c", {"type": "x"})
        await layer.group_add("g", "c")
        await layer.flush()
        assert layer.stats() == {"channels": 0, "groups": 0, "queued": 0, "expiry_entries": 0}

    run(go())


def test_invalid_names_are_refused():
    async def go():
        layer = InProcessChannelLayer()
        with pytest.raises(TypeError):
            await layer.send("bad name", {"type": "x"})
        with pytest.raises(TypeError):
            await layer.group_add("bad group!", "c")

    run(go())


def _group_send_cost(idle_sockets: int, rounds: int = 3000) -> float:
    async def go():
        layer = InProcessChannelLayer()
        idle = [asyncio.create_task(layer.receive(f"idle.{i}")) for i in range(idle_sockets)]
        for i in range(idle_sockets):
            await layer.group_add(f"conv.{i}", f"idle.{i}")
        await asyncio.sleep(0)
        await layer.group_add("hot", "hot.c")
        start = time.perf_counter()
        for i in range(rounds):
            await layer.group_send("hot", {"type": "m", "i": i})
            await layer.receive("hot.c")
        elapsed = time.perf_counter() - start
        for task in idle:
            task.cancel()
        await asyncio.gather(*idle, return_exceptions=True)
        return elapsed / rounds

    return run(go())


def test_cost_per_message_does_not_grow_with_the_number_of_connections():
    # best of three runs each: the machine is shared, a single run can be slowed by others
    few = min(_group_send_cost(10) for _ in range(3))
    many = min(_group_send_cost(10_000) for _ in range(3))
    # Channels' InMemoryChannelLayer scans all 10,000 channels on every call here.
    assert many < few * 5, (few, many)


def test_every_receiver_gets_its_own_copy_of_a_group_message():
    from decimal import Decimal

    async def go():
        layer = InProcessChannelLayer()
        await layer.group_add("g", "a.1")
        await layer.group_add("g", "b.1")
        sent = {
            "type": "m",
            "event": {"seq": 1, "data": {"buttons": ["x"]}, "pair": (1, [2])},
            "n": Decimal("1.5"),
        }
        await layer.group_send("g", sent)
        a, b = await layer.receive("a.1"), await layer.receive("b.1")
        a["event"]["data"]["buttons"].append("changed by a")
        a["event"]["pair"][1].append(3)
        return sent, a, b

    sent, a, b = run(go())
    assert b == {
        "type": "m",
        "event": {"seq": 1, "data": {"buttons": ["x"]}, "pair": (1, [2])},
        "n": Decimal("1.5"),
    }
    assert sent["event"]["data"]["buttons"] == ["x"] and sent["event"]["pair"] == (1, [2])
    assert isinstance(b["event"]["pair"], tuple)


def test_group_send_many_leaves_other_layers_to_their_own_group_send():
    from okwallet.chat.layers import group_send_many

    async def go():
        layer = InProcessChannelLayer()
        a = await layer.new_channel()
        await layer.group_add("chat.conv.1", a)
        handled = await group_send_many(layer, [("chat.conv.1", {"type": "m", "n": 0}, None)])
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(a), 0.05)  # nothing sent: the caller sends
        return handled

    assert run(go()) is False
