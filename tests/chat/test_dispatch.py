"""chat.dispatch.dispatch_from: the consumers' message loop keeps Channels' guarantees (one
handler at a time, arrival order, the handler's exception ends it, readers cancelled) and stops
reading a source while its inbox is full."""

import asyncio

import pytest
from channels.exceptions import StopConsumer

from okwallet.chat.dispatch import dispatch_from
from tests.chat.conftest import run_async


def run(coro):
    """In a worker thread (after a browser test, Playwright's loop counts as running here)."""

    async def bounded():
        return await asyncio.wait_for(coro, 10)

    return run_async(bounded)


def queue_source(queue: asyncio.Queue):
    return queue.get


def test_messages_are_dispatched_one_at_a_time_in_arrival_order():
    async def main():
        socket, layer = asyncio.Queue(), asyncio.Queue()
        seen, running = [], []

        async def dispatch(message):
            running.append(1)
            assert len(running) == 1, "two handlers at once"
            await asyncio.sleep(0.001)  # a handler that waits lets the other source deliver meanwhile
            seen.append(message["n"])
            running.pop()
            if len(seen) == 10:
                raise StopConsumer()

        for n in range(10):
            await (socket if n % 2 else layer).put({"n": n})
        with pytest.raises(StopConsumer):
            await dispatch_from([queue_source(socket), queue_source(layer)], dispatch)
        return seen

    seen = run(main())
    assert sorted(seen) == list(range(10))
    # each source's own order is kept
    assert [n for n in seen if n % 2] == [1, 3, 5, 7, 9]
    assert [n for n in seen if not n % 2] == [0, 2, 4, 6, 8]


def test_the_handlers_exception_ends_the_loop_and_cancels_the_readers():
    async def main():
        cancelled = []

        async def never():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        socket = asyncio.Queue()
        await socket.put({"n": 1})

        async def dispatch(message):
            raise ValueError("bad handler")

        with pytest.raises(ValueError, match="bad handler"):
            await dispatch_from([queue_source(socket), never], dispatch)
        return cancelled

    assert run(main()) == [True]


def test_a_failing_source_ends_the_loop_after_what_came_before():
    async def main():
        messages = [{"n": 1}, {"n": 2}]

        async def source():
            await asyncio.sleep(0)
            if messages:
                return messages.pop(0)
            raise ConnectionError("gone")

        seen = []

        async def dispatch(message):
            seen.append(message["n"])

        with pytest.raises(ConnectionError):
            await dispatch_from([source], dispatch)
        return seen

    assert run(main()) == [1, 2]


def test_a_full_inbox_stops_reading_until_there_is_room():
    async def main():
        socket = asyncio.Queue()
        for n in range(20):
            socket.put_nowait({"n": n})
        release = asyncio.Event()
        seen = []
        backlog_seen = []

        async def dispatch(message):
            if message["n"] == 0:
                await release.wait()  # a slow first handler: the reader fills the inbox meanwhile
            seen.append(message["n"])
            if message["n"] == 19:
                raise StopConsumer()

        async def watch():
            await asyncio.sleep(0.05)
            backlog_seen.append(socket.qsize())
            release.set()

        watcher = asyncio.ensure_future(watch())
        with pytest.raises(StopConsumer):
            await dispatch_from([queue_source(socket)], dispatch, backlog=4)
        await watcher
        return seen, backlog_seen

    seen, backlog_seen = run(main())
    assert seen == list(range(20))
    # read ahead: the one being handled and 3 waiting (a backlog of 4); 16 stayed in the source
    assert backlog_seen == [16]
