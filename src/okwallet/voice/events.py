"""CTI events (ringing, queued, answered, ended) pushed to agent consoles over WebSockets.

Sent after commit so a rolled-back change never pops a screen. The message carries only the
call id and the event; each console socket renders the screen-pop for its own agent (the
customer 360 depends on who is looking).

The webhook never waits for the push. Sending from a synchronous view with ``async_to_sync``
blocks the request's thread until the event loop has run the send; under ASGI on SQLite all
requests share one thread for their synchronous code (``okwallet/asgi.py``), so every webhook
behind it waited too, and without a running loop (test client, WSGI, Huey) ``async_to_sync``
started a loop in a new thread for each message (about 5 ms). Messages are instead handed to
one sender loop per process (a daemon thread), which sends them in order, one at a time.
A push is a convenience for the console (the call log and the waiting list are the record), so
one lost when the process exits does not lose anything else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

from django.db import transaction

log = logging.getLogger(__name__)

AGENTS_GROUP = "voice.agents"


def agent_group(user_id: int) -> str:
    return f"voice.agent.{user_id}"


class _Sender:
    """A daemon thread running an event loop that sends queued (group, message) pairs in order."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue | None = None
        self.idle = threading.Event()
        self.idle.set()
        self.pending = 0
        self._lock = threading.Lock()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="voice-cti-sender", daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue()
        self.loop.create_task(self._drain())
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    async def _drain(self) -> None:
        from channels.layers import get_channel_layer

        while True:
            group, message = await self.queue.get()
            try:
                layer = get_channel_layer()
                if layer is not None:
                    await layer.group_send(group, message)
            except Exception:  # a console push must never break anything
                log.exception("CTI push to %s failed", group)
            finally:
                with self._lock:
                    self.pending -= 1
                    if self.pending == 0:
                        self.idle.set()

    def submit(self, group: str, message: dict) -> None:
        with self._lock:
            self.pending += 1
            self.idle.clear()
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (group, message))


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def _get_sender() -> _Sender:
    global _sender
    with _sender_lock:
        if _sender is None or _sender.pid != os.getpid() or not _sender.thread.is_alive():
            _sender = _Sender()
        return _sender


def _send(group: str, message: dict) -> None:
    _get_sender().submit(group, message)


def wait_sent(timeout: float = 5.0) -> bool:
    """Block until every push handed over so far has been sent (tests, graceful shutdown)."""
    sender = _sender
    return True if sender is None else sender.idle.wait(timeout)


def push(call, event: str) -> None:
    """After commit, tell the consoles; the ids are read then (a new call is inserted late)."""
    agent_id = call.agent_id

    def send():
        message = {"type": "voice.event", "event": event, "call_id": call.pk, "agent_id": agent_id}
        _send(AGENTS_GROUP, message)

    transaction.on_commit(send)
