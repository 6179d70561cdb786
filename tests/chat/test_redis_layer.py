"""The local-first Redis channel layer, against a real Redis: what stays in the process, what
crosses to another one, and that nothing arrives twice.

Two layer objects stand for two server processes: each has its own per-loop layer (own id,
own Redis connections), exactly as two processes would."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from okwallet.chat.layers import group_send_many
from okwallet.chat.redis_layer import LocalFirstRedisChannelLayer
from tests.chat.conftest import run_async

pytestmark = pytest.mark.redis


def _layers(n: int = 2) -> list[LocalFirstRedisChannelLayer]:
    prefix = f"okwtest{secrets.token_hex(4)}"  # tests on other xdist workers share the database
    return [
        LocalFirstRedisChannelLayer(hosts=[os.environ["OKWALLET_TEST_REDIS_URL"]], prefix=prefix)
        for _ in range(n)
    ]


def _run(scenario):
    async def wrapper():
        layers = _layers()
        try:
            return await scenario(*layers)
        finally:
            for layer in layers:
                await layer.flush()

    return run_async(wrapper)


async def _take(layer, channel, n: int, timeout: float = 5) -> list:
    return [(await asyncio.wait_for(layer.receive(channel), timeout))["n"] for _ in range(n)]


async def _nothing_more(layer, channel, wait: float = 0.2) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), wait)
    except TimeoutError:
        return True
    return False


async def _group_subscribers(layer, group: str) -> int:
    """How many Redis connections listen on ``group``'s channel (PUBSUB NUMSUB)."""
    from redis.asyncio import Redis

    client = Redis.from_url(os.environ["OKWALLET_TEST_REDIS_URL"])
    try:
        name = layer._get_layer()._group_prefix + group
        return dict(await client.pubsub_numsub(name))[name.encode()]
    finally:
        await client.aclose()


async def _until(predicate, timeout: float = 5) -> None:
    async def poll():
        while not await predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def test_group_message_reaches_members_here_and_elsewhere_once_each_leaving_out_the_sender():
    async def scenario(here, there):
        sender, neighbour = await here.new_channel(), await here.new_channel()
        remote = await there.new_channel()
        for layer, channel in ((here, sender), (here, neighbour), (there, remote)):
            await layer.group_add("chat.conv.1", channel)
        for n in range(5):
            await here.group_send("chat.conv.1", {"type": "m", "n": n}, exclude=sender)
        got_neighbour = await _take(here, neighbour, 5)
        got_remote = await _take(there, remote, 5)
        # the frame read back from Redis by its own process is dropped: no second copy
        quiet = [await _nothing_more(here, neighbour), await _nothing_more(here, sender)]
        return got_neighbour, got_remote, quiet

    got_neighbour, got_remote, quiet = _run(scenario)
    assert got_neighbour == got_remote == [0, 1, 2, 3, 4]
    assert quiet == [True, True]


def test_group_send_many_keeps_each_groups_order_across_processes():
    async def scenario(here, there):
        a, b = await there.new_channel(), await there.new_channel()
        local = await here.new_channel()
        await there.group_add("chat.conv.1", a)
        await there.group_add("chat.conv.1", b)
        await there.group_add("chat.conv.2", b)
        await here.group_add("chat.conv.2", local)
        sends = [("chat.conv.1", {"type": "m", "n": n}, None) for n in range(20)]
        sends += [("chat.conv.2", {"type": "m", "n": 100 + n}, None) for n in range(5)]
        assert await group_send_many(here, sends) is True
        got_local_at_once = [(await here.receive(local))["n"] for _ in range(5)]  # no Redis trip
        got_a, got_b = await _take(there, a, 20), await _take(there, b, 25)
        return got_local_at_once, got_a, got_b

    got_local, got_a, got_b = _run(scenario)
    assert got_local == [100, 101, 102, 103, 104]
    assert got_a == list(range(20))
    assert [n for n in got_b if n < 100] == list(range(20))
    assert [n for n in got_b if n >= 100] == [100, 101, 102, 103, 104]


def test_send_to_a_channel_of_another_process_goes_through_its_inbox():
    async def scenario(here, there):
        mine, theirs = await here.new_channel(), await there.new_channel()
        for n in range(3):
            await here.send(theirs, {"type": "m", "n": n})
        await there.send(mine, {"type": "m", "n": 7})
        await here.send(mine, {"type": "m", "n": 8})  # local: never leaves the process
        return await _take(there, theirs, 3), await _take(here, mine, 2)

    theirs, mine = _run(scenario)
    assert theirs == [0, 1, 2]
    assert sorted(mine) == [7, 8]  # no order between two senders


def test_named_channel_is_reached_from_any_process():
    async def scenario(here, there):
        listening = asyncio.ensure_future(there.receive("chat.worker"))
        await asyncio.sleep(0.2)  # its SUBSCRIBE goes out
        await here.send("chat.worker", {"type": "m", "n": 42})
        return (await asyncio.wait_for(listening, 5))["n"]

    assert _run(scenario) == 42


def test_a_process_listens_to_a_group_only_while_it_has_a_member_there():
    async def scenario(here, there):
        a, b = await there.new_channel(), await there.new_channel()
        await there.group_add("chat.conv.9", a)
        await there.group_add("chat.conv.9", b)
        subscribed = await _group_subscribers(there, "chat.conv.9")
        await there.group_discard("chat.conv.9", a)
        still = await _group_subscribers(there, "chat.conv.9")
        await there.group_discard("chat.conv.9", b)
        await _until(lambda: _no_subscribers(there, "chat.conv.9"))
        await here.group_send("chat.conv.9", {"type": "m", "n": 1})
        return subscribed, still, await _nothing_more(there, a), await _nothing_more(there, b)

    subscribed, still, quiet_a, quiet_b = _run(scenario)
    assert subscribed == 1 and still == 1  # one subscription per process, not per socket
    assert quiet_a and quiet_b


async def _no_subscribers(layer, group):
    return await _group_subscribers(layer, group) == 0


def test_a_bad_frame_on_redis_does_not_stop_the_subscription():
    async def scenario(here, there):
        from redis.asyncio import Redis

        remote = await there.new_channel()
        await there.group_add("chat.conv.3", remote)
        name = there._get_layer()._group_prefix + "chat.conv.3"
        client = Redis.from_url(os.environ["OKWALLET_TEST_REDIS_URL"])
        try:
            await client.publish(name, b"G" + b"0" * 16 + b"not msgpack \xff\xfe")
            await client.publish(name, b"?garbage")
        finally:
            await client.aclose()
        await here.group_send("chat.conv.3", {"type": "m", "n": 5})
        return await _take(there, remote, 1)

    assert _run(scenario) == [5]


def test_flush_publishes_what_group_send_many_queued_before_closing():
    async def scenario(here, there):
        remote = await there.new_channel()
        await there.group_add("chat.conv.4", remote)
        await group_send_many(here, [("chat.conv.4", {"type": "m", "n": n}, None) for n in range(50)])
        await here.flush()  # a shutting-down process still sends what it queued
        return await _take(there, remote, 50)

    assert _run(scenario) == list(range(50))


def test_every_receiver_gets_its_own_copy_of_a_message_from_another_process():
    async def scenario(here, there):
        a, b = await there.new_channel(), await there.new_channel()
        await there.group_add("chat.conv.5", a)
        await there.group_add("chat.conv.5", b)
        await here.group_send("chat.conv.5", {"type": "m", "n": 1, "data": {"seen": []}})
        got_a = await asyncio.wait_for(there.receive(a), 5)
        got_a["data"]["seen"].append("a")
        got_b = await asyncio.wait_for(there.receive(b), 5)
        return got_b["data"]["seen"]

    assert _run(scenario) == []


def test_a_process_stops_listening_to_a_group_whose_last_membership_expired():
    async def scenario():
        url = os.environ["OKWALLET_TEST_REDIS_URL"]
        prefix = f"okwtest{secrets.token_hex(4)}"
        here = LocalFirstRedisChannelLayer(hosts=[url], prefix=prefix)
        there = LocalFirstRedisChannelLayer(hosts=[url], prefix=prefix, group_expiry=1)
        try:
            remote = await there.new_channel()
            await there.group_add("chat.conv.6", remote)
            await here.group_send("chat.conv.6", {"type": "m", "n": 1})
            first = await _take(there, remote, 1)
            await asyncio.sleep(1.2)  # the membership expires; nobody calls group_discard
            await here.group_send("chat.conv.6", {"type": "m", "n": 2})  # dropped, and noticed
            await _until(lambda: _no_subscribers(there, "chat.conv.6"))
            await there.group_add("chat.conv.6", remote)  # a new member: listening again
            again = await _group_subscribers(there, "chat.conv.6")
            await here.group_send("chat.conv.6", {"type": "m", "n": 3})
            return first, again, await _take(there, remote, 1)
        finally:
            await here.flush()
            await there.flush()

    first, again, after = run_async(scenario)
    assert first == [1] and again == 1 and after == [3]
