"""A consumer's message loop without a new task and an ``asyncio.wait`` per message.

Channels' ``await_many_dispatch`` (``AsyncConsumer.__call__``) waits for the socket and the
channel layer by starting a task per receive and an ``asyncio.wait`` over both for every
message: in a profile of the chat benchmark's closed loop that was a tenth of the event loop's
time (docs/benchmarks.md "Live chat"), and a chat message passes through it three times (the
customer's frame, its stored copy back to the customer, the agent's copy).

``dispatch_from`` keeps one long-lived reader ("pump") per source instead. Each reader appends
what it receives to one inbox and wakes the dispatcher, which hands the messages to
``dispatch`` one at a time, in arrival order, never two at once — the guarantees of Channels'
loop. A reader stops reading while the inbox holds ``backlog`` messages (a flood waits in the
socket's own buffers, as it does with Channels, instead of piling up here). The loop ends with
the exception ``dispatch`` raises (``StopConsumer`` when the socket closed) or the one a reader
got; the readers are cancelled then (the in-process layer puts a message back when the receive
it was handed to is cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def dispatch_from(
    sources: list[Callable[[], Awaitable[dict]]],
    dispatch: Callable[[dict], Awaitable[None]],
    *,
    backlog: int = 64,
) -> None:
    loop = asyncio.get_running_loop()
    inbox: list = []  # a list, not a deque: every socket has one, and an empty deque is ~10x larger
    failures: list[BaseException] = []
    wake: asyncio.Future | None = None  # the dispatcher waits on it while the inbox is empty
    room: asyncio.Future | None = None  # readers wait on it while the inbox is full

    def poke() -> None:
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def pump(source) -> None:
        nonlocal room
        try:
            while True:
                message = await source()
                inbox.append(message)
                poke()
                while len(inbox) >= backlog and not failures:
                    if room is None or room.done():
                        room = loop.create_future()
                    await room
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the dispatcher, which raises it
            failures.append(exc)
            poke()

    pumps = [loop.create_task(pump(source)) for source in sources]
    try:
        while True:
            while inbox:
                await dispatch(inbox.pop(0))  # short: at most ``backlog``
                if room is not None and not room.done() and len(inbox) < backlog:
                    room.set_result(None)
            if failures:
                raise failures[0]
            wake = loop.create_future()
            await wake
            wake = None
    finally:
        for task in pumps:
            task.cancel()
        for task in pumps:
            try:
                await task
            except asyncio.CancelledError:
                pass
