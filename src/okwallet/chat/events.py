"""Live events to sockets, sent only after the change that caused them has committed.

Services call ``emit(group, event)``. The event goes out on ``transaction.on_commit``; inside
``collecting()`` (used by the socket consumers, which run services in a worker thread) the
events are handed back to the caller to send from its own event loop instead of hopping
loops for each one.

Groups: ``chat.c.<conversation id>`` (everyone in the conversation: the customer's sockets, the
agent's, a silent supervisor's), ``chat.staff`` (console sockets: queue and load changes).
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

STAFF_GROUP = "chat.staff"
_local = threading.local()


def conversation_group(conversation_id: int) -> str:
    return f"chat.c.{conversation_id}"


@contextmanager
def collecting():
    """Collect the events committed inside the block into the yielded list instead of sending."""
    previous = getattr(_local, "sink", None)
    sink: list[tuple[str, dict]] = []
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = previous


def _send_now(group: str, event: dict) -> None:
    sink = getattr(_local, "sink", None)
    if sink is not None:
        sink.append((group, event))
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(group, event)
        return
    # Sync code called from a thread that runs an event loop (a test driving a browser):
    # async_to_sync refuses, so send from a short-lived worker thread.
    worker = threading.Thread(target=lambda: asyncio.run(layer.group_send(group, event)))
    worker.start()
    worker.join()


def emit(group: str, event: dict) -> None:
    """Queue ``event`` (a dict with ``type`` naming the consumer handler) for ``group``."""
    transaction.on_commit(lambda: _send_now(group, event))


async def send_collected(events: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, event in events:
        await layer.group_send(group, event)
