"""An in-process channel layer whose cost per message does not grow with the number of sockets.

Channels' ``InMemoryChannelLayer`` walks every channel and every group membership on each
``receive`` and ``group_send`` to expire old messages, so with thousands of open sockets each
message costs thousands of steps and delivery collapses (measured: past about 3,000 sockets
only a fraction of messages arrived, seconds late). This layer keeps the same documented
interface (``send``, ``receive``, ``new_channel``, ``group_add``, ``group_discard``,
``group_send``, ``flush``, ``close``; extensions ``groups`` and ``flush``) with:

- one small state per channel: a deque of ``(expires_at, message)`` (created when a message
  first has to wait) and a list of waiting receivers (futures; normally none or one). A send
  to a channel that has a waiting receiver hands the message over directly and stores nothing;
- one dict per group ``{channel: expires_at}``, plus a reverse index channel → groups so an
  expired channel leaves its groups in O(its groups);
- expiry done lazily and amortised: every queued message and every group membership is
  appended to a time-ordered deque when created (expiry is a constant, so the deques are
  sorted); each operation pops at most a bounded number of due entries from their heads.
  Nothing ever scans all channels.

It is process-local (like the in-memory layer): several server processes need channels-redis.
It is safe to use from several event loops / threads of one process (``async_to_sync`` from
a sync view runs in another loop): state changes hold a lock, and a receiver waiting in
another loop is woken with ``call_soon_threadsafe``; a message handed to a receiver that was
cancelled meanwhile is put back at the head of its channel, never lost.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer

_SWEEP_BUDGET = 64  # due expiry entries handled per operation (amortised O(1) per message)


_SHARED = (str, int, float, bool, bytes, type(None))


def copy_message(value):
    """What ``copy.deepcopy`` gives for channel messages, several times faster.

    Messages must survive channels-redis (msgpack: dicts, lists, tuples, strings, numbers,
    bytes, None), so they are nearly always made of these; containers are copied, immutable
    values shared (as deepcopy does), anything else goes to deepcopy. Every receiver gets its
    own copy, so one handler changing a message cannot change another's."""
    kind = type(value)
    if kind is dict:
        return {k: copy_message(v) for k, v in value.items()}
    if kind is list:
        return [copy_message(v) for v in value]
    if kind in _SHARED:
        return value
    if kind is tuple:
        return tuple(copy_message(v) for v in value)
    return deepcopy(value)


class _Channel:
    """One channel's state. Every socket has one, so it is small: the message deque and the
    group set are created when first needed (an idle socket has one waiting receiver and, in
    chat, one group), and the waiting receivers are a short list (normally none or one)."""

    __slots__ = ("messages", "waiters", "groups")

    def __init__(self) -> None:
        self.messages: deque[tuple[float, dict]] | None = None
        self.waiters: list[asyncio.Future] = []
        self.groups: set[str] | None = None


class InProcessChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]
    group_send_exclude = True  # group_send(..., exclude=channel): see there

    def __init__(self, expiry=60, group_expiry=86400, capacity=1000, channel_capacity=None, **kwargs):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity, **kwargs)
        self.group_expiry = group_expiry
        self.channel_capacity = self.compile_capacities(self.channel_capacity)
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}
        self._groups: dict[str, dict[str, float]] = {}
        self._message_expiry: deque[tuple[float, str]] = deque()
        self._group_expiry: deque[tuple[float, str, str]] = deque()

    # --- helpers (call with the lock held) ------------------------------------

    def _sweep(self, now: float) -> None:
        budget = _SWEEP_BUDGET
        exp = self._message_expiry
        while exp and exp[0][0] <= now and budget:
            budget -= 1
            _, name = exp.popleft()
            state = self._channels.get(name)
            if state is None:
                continue
            expired = False
            while state.messages and state.messages[0][0] <= now:
                state.messages.popleft()
                expired = True
            if expired:
                # A channel that lets messages expire has nobody reading it: like the in-memory
                # layer, drop it from its groups so group sends stop feeding it.
                self._leave_all_groups(name, state)
            self._maybe_drop(name, state)
        gexp = self._group_expiry
        while gexp and gexp[0][0] <= now and budget:
            budget -= 1
            expires_at, group, name = gexp.popleft()
            members = self._groups.get(group)
            if members is not None and members.get(name) == expires_at:
                self._discard(group, name)

    def _maybe_drop(self, name: str, state: _Channel) -> None:
        if not state.messages and not state.waiters and not state.groups:
            self._channels.pop(name, None)

    def _leave_all_groups(self, name: str, state: _Channel) -> None:
        for group in list(state.groups or ()):
            self._discard(group, name)

    def _discard(self, group: str, name: str) -> None:
        members = self._groups.get(group)
        if members is not None:
            members.pop(name, None)
            if not members:
                del self._groups[group]
        state = self._channels.get(name)
        if state is not None:
            if state.groups:
                state.groups.discard(group)
            self._maybe_drop(name, state)

    def _deliver(self, name: str, message: dict, now: float) -> None:
        """Hand ``message`` to a waiting receiver or queue it. Lock held."""
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = _Channel()
        while state.waiters:
            fut = state.waiters.pop(0)
            if fut.done():
                continue
            loop = fut.get_loop()
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if loop is running:
                fut.set_result(message)
            else:
                loop.call_soon_threadsafe(self._resolve_from_other_loop, fut, name, message)
            self._maybe_drop(name, state)
            return
        if state.messages is None:
            state.messages = deque()
        elif len(state.messages) >= self.get_capacity(name):
            self._maybe_drop(name, state)
            raise ChannelFull(name)
        expires_at = now + self.expiry
        state.messages.append((expires_at, message))
        self._message_expiry.append((expires_at, name))

    def _resolve_from_other_loop(self, fut: asyncio.Future, name: str, message: dict) -> None:
        if not fut.done():
            fut.set_result(message)
            return
        with self._lock:  # the receiver went away meanwhile: keep the message for the next one
            self._requeue(name, message)

    def _requeue(self, name: str, message: dict) -> None:
        state = self._channels.get(name)
        if state is None:
            state = self._channels[name] = _Channel()
        if state.waiters:
            self._deliver(name, message, time.time())
            return
        expires_at = time.time() + self.expiry
        if state.messages is None:
            state.messages = deque()
        state.messages.appendleft((expires_at, message))
        self._message_expiry.append((expires_at, name))

    # --- channel layer API ------------------------------------------------------

    async def send(self, channel, message):
        self.send_nowait(channel, message)

    def send_nowait(self, channel: str, message: dict, *, copy: bool = True) -> None:
        """``send`` without awaiting (it never waits): for a layer that bridges processes and
        hands on what arrived from elsewhere (``copy=False`` for a message nobody else holds)."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        if copy:
            message = copy_message(message)
        now = time.time()
        with self._lock:
            self._sweep(now)
            self._deliver(channel, message, now)

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        now = time.time()
        loop = asyncio.get_running_loop()
        with self._lock:
            self._sweep(now)
            state = self._channels.get(channel)
            if state is None:
                state = self._channels[channel] = _Channel()
            while state.messages:
                expires_at, message = state.messages.popleft()
                if expires_at > now:
                    self._maybe_drop(channel, state)
                    return message
            fut = loop.create_future()
            state.waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            with self._lock:
                if fut.done() and not fut.cancelled():
                    self._requeue(channel, fut.result())
                state = self._channels.get(channel)
                if state is not None:
                    try:
                        state.waiters.remove(fut)
                    except ValueError:
                        pass
                    self._maybe_drop(channel, state)
            raise

    async def new_channel(self, prefix="specific."):
        return f"{prefix}.inprocess!{secrets.token_hex(8)}"

    async def flush(self):
        with self._lock:
            waiters = [fut for state in self._channels.values() for fut in state.waiters]
            self._channels = {}
            self._groups = {}
            self._message_expiry.clear()
            self._group_expiry.clear()
        for fut in waiters:
            if not fut.done():
                fut.get_loop().call_soon_threadsafe(fut.cancel)

    async def close(self):
        pass

    async def group_add(self, group, channel):
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        now = time.time()
        expires_at = now + self.group_expiry
        with self._lock:
            self._sweep(now)
            self._groups.setdefault(group, {})[channel] = expires_at
            state = self._channels.get(channel)
            if state is None:
                state = self._channels[channel] = _Channel()
            if state.groups is None:
                state.groups = set()
            state.groups.add(group)
            self._group_expiry.append((expires_at, group, channel))

    async def group_discard(self, group, channel):
        self.require_valid_channel_name(channel)
        self.require_valid_group_name(group)
        with self._lock:
            self._discard(group, channel)

    async def group_send(self, group, message, *, exclude: str | None = None):
        """``exclude``: a member channel that does not get this message (an extension: the chat
        writer leaves out the socket that sent it, which sends its own copy with the ack)."""
        self.group_send_nowait(group, message, exclude=exclude)

    def group_send_nowait(self, group: str, message: dict, *, exclude: str | None = None) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        now = time.time()
        with self._lock:
            self._sweep(now)
            members = self._groups.get(group)
            if not members:
                return
            for name in list(members):
                if name == exclude:
                    continue
                try:
                    self._deliver(name, copy_message(message), now)
                except ChannelFull:
                    pass

    def has_members(self, group: str) -> bool:
        return group in self._groups  # an emptied group is deleted at once

    # --- introspection for tests and the benchmark -------------------------------

    def stats(self) -> dict:
        with self._lock:
            return {
                "channels": len(self._channels),
                "groups": len(self._groups),
                "queued": sum(len(s.messages or ()) for s in self._channels.values()),
                "expiry_entries": len(self._message_expiry) + len(self._group_expiry),
            }


async def group_send_many(layer, sends: list[tuple[str, dict, str | None]]) -> bool:
    """Send ``(group, message, exclude)`` triples with the layer's own ``group_send_many``
    (``chat.redis_layer``: one pipelined round trip per Redis shard, each group's in order);
    False (nothing sent) for a layer without one, whose ``group_send`` the caller uses."""
    send_many = getattr(layer, "group_send_many", None)
    if send_many is None:
        return False
    await send_many(sends)
    return True


def excludes_origin(layer) -> bool:
    """Whether ``layer.group_send`` takes ``exclude=`` (the chat layers; not Channels' own)."""
    return getattr(layer, "group_send_exclude", False)


def layer_receive(layer):
    """The layer's ``receive`` for a socket. channels-redis' pub/sub layers are proxies that
    look their per-event-loop layer up on every call; a socket lives on one loop, so it binds
    that one's."""
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError:  # channels-redis is only needed at scale
        return layer.receive
    if isinstance(layer, RedisPubSubChannelLayer):
        loop_layer = layer._get_layer()
        if hasattr(loop_layer, "receive"):
            return loop_layer.receive
    return layer.receive
