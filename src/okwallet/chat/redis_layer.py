"""channels-redis' pub/sub layer with a local fast path: Redis only carries what crosses processes.

With the stock ``RedisPubSubChannelLayer`` every message makes the full trip even when sender and
receiver share a process (in chat they usually do: a customer and the agent on the same server):
serialise, PUBLISH and wait for the reply, read it back from the subscription, queue the bytes
for each local member, deserialise once per member. Measured in ``bench/chat_load.py`` that trip
was most of the chat server's time over Redis (0.40-0.44x of the bare Channels echo, against
0.58-0.71x for the in-process layer).

``LocalFirstRedisChannelLayer`` keeps channels-redis' model (one layer per event loop, one
pub/sub connection per Redis shard, group ``G`` ↔ Redis channel ``<prefix>__group__G``, its
serialiser and encryption options) and changes what happens on the way:

- each loop's layer holds its channels and group members in an ``InProcessChannelLayer``;
  ``new_channel`` names carry the loop layer's id (``specific.<id>!<token>``), so a ``send``
  to a local channel is a local delivery and one to another process's channel is one PUBLISH
  to that layer's inbox (``<prefix>__inbox__<id>``): no Redis subscription per socket;
- ``group_send`` delivers to the group's local members at once (leaving ``exclude`` out, which
  the stock layer cannot do) and PUBLISHes once for other processes; every frame starts with
  the sending layer's id, and a layer reading back its own frame drops it before deserialising;
- a process subscribes to a group's Redis channel while it has a local member;
- the subscription reader blocks on the socket (``get_message(timeout=None)``) instead of
  polling with a 0.1 s timeout per message (an asyncio timeout context per message);
- PUBLISHes wait in a per-shard outbox that one task drains into pipelines, so frames queued
  during a round trip go together in the next; ``group_send`` waits for its frame to be
  published, ``group_send_many`` (the chat writer's batches) does not.

Frames on Redis: one kind byte (``G`` group, ``C`` channel in an inbox, ``N`` named channel),
the 16-character layer id, then for ``C`` the channel name and a newline, then the serialised
message. Layers of this class talk to each other; a stock channels-redis layer on the same
prefix would not understand them (docs/decisions/0004-local-first-redis-layer.md).

Like the stock layer, a channel belongs to the event loop that created it: another loop of the
same process (``async_to_sync`` in a sync view) reaches it through Redis.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from channels.exceptions import ChannelFull
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close

from okwallet.chat.layers import InProcessChannelLayer

log = logging.getLogger(__name__)

_ID_LEN = 16  # characters of a loop layer's id (hex)
_GROUP, _CHANNEL, _NAMED = b"G", b"C", b"N"


class LocalFirstRedisChannelLayer(RedisPubSubChannelLayer):
    """Settings: ``{"BACKEND": "okwallet.chat.redis_layer.LocalFirstRedisChannelLayer",
    "CONFIG": {"hosts": [...], "prefix": ...}}`` plus the in-process options ``expiry``,
    ``group_expiry``, ``capacity`` and ``channel_capacity`` for the local queues."""

    extensions = ["groups", "flush"]
    group_send_exclude = True

    def __init__(
        self, *args, expiry=60, group_expiry=86400, capacity=1000, channel_capacity=None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self._local_options = {
            "expiry": expiry,
            "group_expiry": group_expiry,
            "capacity": capacity,
            "channel_capacity": channel_capacity,
        }

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
            return layer

    # The layer API, spelt out (the stock proxy builds a partial per call through __getattr__).
    async def new_channel(self, prefix="specific."):
        return await self._get_layer().new_channel(prefix)

    async def send(self, channel, message):
        await self._get_layer().send(channel, message)

    async def receive(self, channel):
        return await self._get_layer().receive(channel)

    async def group_add(self, group, channel):
        await self._get_layer().group_add(group, channel)

    async def group_discard(self, group, channel):
        await self._get_layer().group_discard(group, channel)

    async def group_send(self, group, message, *, exclude: str | None = None):
        await self._get_layer().group_send(group, message, exclude=exclude)

    async def group_send_many(self, sends: list[tuple[str, dict, str | None]]) -> None:
        await self._get_layer().group_send_many(sends)

    async def flush(self):
        await self._get_layer().flush()


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, channel_layer: LocalFirstRedisChannelLayer, **kwargs) -> None:
        super().__init__(*args, channel_layer=channel_layer, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]
        self.local = InProcessChannelLayer(**channel_layer._local_options)
        self.id = secrets.token_hex(_ID_LEN // 2)
        self._id_bytes = self.id.encode()
        self._group_prefix = f"{self.prefix}__group__"
        self._inbox = self._inbox_of(self.id)

    def _inbox_of(self, layer_id: str) -> str:
        return f"{self.prefix}__inbox__{layer_id}"

    def _frame(self, kind: bytes, message: dict, channel: str = "") -> bytes:
        head = kind + self._id_bytes + (channel.encode() + b"\n" if channel else b"")
        return head + self.channel_layer.serialize(message)

    def _owner(self, channel: str) -> str | None:
        """The id of the loop layer a process-specific channel belongs to; None for a named one."""
        head, bang, _ = channel.partition("!")
        return head[-_ID_LEN:] if bang and len(head) >= _ID_LEN else None

    # --- channels ---------------------------------------------------------------------------

    async def new_channel(self, prefix="specific."):
        shard = self._get_shard(self._inbox)
        await shard.subscribe(self._inbox)  # once per loop layer (a set lookup after that)
        return f"{prefix}{self.id}!{secrets.token_hex(8)}"

    async def send(self, channel, message):
        self.local.require_valid_channel_name(channel)
        owner = self._owner(channel)
        if owner == self.id:
            self.local.send_nowait(channel, message)
            return
        if owner is None:  # a named channel: whoever listens on it, here or elsewhere
            if channel in self.channels:
                self.local.send_nowait(channel, message)
            target, frame = channel, self._frame(_NAMED, message)
        else:
            target, frame = self._inbox_of(owner), self._frame(_CHANNEL, message, channel)
        await self._get_shard(target).publish(target, frame)

    async def receive(self, channel):
        if self._owner(channel) is None and channel not in self.channels:
            self.channels[channel] = None  # a named channel this loop listens on
            await self._get_shard(channel).subscribe(channel)
        return await self.local.receive(channel)

    # --- groups -----------------------------------------------------------------------------

    async def group_add(self, group, channel):
        await self.local.group_add(group, channel)
        name = self._group_prefix + group
        # Always through the shard: its lock makes a second add wait until the first's
        # SUBSCRIBE is done, and orders it after a pending UNSUBSCRIBE of the same group.
        await self._get_shard(name).subscribe(name)

    async def group_discard(self, group, channel):
        await self.local.group_discard(group, channel)
        if not self.local.has_members(group):
            name = self._group_prefix + group
            await self._get_shard(name).unsubscribe_unless(name, lambda: self.local.has_members(group))

    async def group_send(self, group, message, *, exclude: str | None = None):
        self.local.group_send_nowait(group, message, exclude=exclude)
        name = self._group_prefix + group
        await self._get_shard(name).publish(name, self._frame(_GROUP, message))

    async def group_send_many(self, sends: list[tuple[str, dict, str | None]]) -> None:
        """``group_send`` for each ``(group, message, exclude)`` in order, without waiting for
        Redis: local members have the messages when this returns, other processes get them
        with the next pipelined round trip (the chat writer's acks need not wait for it; a
        message lost on the way is in the database, where a resuming client reads it)."""
        by_shard: dict[int, tuple[_Shard, list]] = {}
        for group, message, exclude in sends:
            self.local.group_send_nowait(group, message, exclude=exclude)
            name = self._group_prefix + group
            shard = self._get_shard(name)
            by_shard.setdefault(id(shard), (shard, []))[1].append((name, self._frame(_GROUP, message)))
        for shard, items in by_shard.values():
            shard.publish_soon(items)

    async def flush(self):
        await self.local.flush()
        await super().flush()

    # --- what the subscription reads ------------------------------------------------------------

    def deliver(self, redis_channel: str, data: bytes) -> None:
        if data[1 : 1 + _ID_LEN] == self._id_bytes:
            return  # our own frame: its local members already have it
        kind, body = data[:1], data[1 + _ID_LEN :]
        if kind == _GROUP:
            group = redis_channel[len(self._group_prefix) :]
            if self.local.has_members(group):
                self.local.group_send_nowait(group, self.channel_layer.deserialize(body))
            if not self.local.has_members(group):
                # its last membership expired (no group_discard came): stop listening
                shard = self._get_shard(redis_channel)
                asyncio.ensure_future(
                    shard.unsubscribe_unless(redis_channel, lambda: self.local.has_members(group))
                )
        elif kind == _CHANNEL:
            channel, _, body = body.partition(b"\n")
            self._deliver_to(channel.decode(), body)
        elif kind == _NAMED:
            self._deliver_to(redis_channel, body)
        else:
            log.warning("chat layer: dropped a frame of unknown kind %r on %s", kind, redis_channel)

    def _deliver_to(self, channel: str, body: bytes) -> None:
        try:
            self.local.send_nowait(channel, self.channel_layer.deserialize(body), copy=False)
        except ChannelFull:
            log.warning("chat layer: channel %s is full, a message from another process was dropped", channel)


class _Shard(RedisSingleShardConnection):
    """One Redis host. Outgoing frames wait in an outbox that one task drains: whatever queued
    up while the previous round trip was out goes in the next pipeline, in order."""

    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes]] = []
        self._outbox_waiters: list[asyncio.Future] = []
        self._outbox_task: asyncio.Task | None = None

    def publish_soon(self, items: list[tuple[str, bytes]], *, wait: bool = False) -> asyncio.Future | None:
        """Queue ``(redis channel, frame)`` PUBLISHes; with ``wait``, a future done when they are."""
        self._outbox.extend(items)
        waiter = None
        if wait:
            waiter = asyncio.get_running_loop().create_future()
            self._outbox_waiters.append(waiter)
        if self._outbox_task is None or self._outbox_task.done():
            self._outbox_task = asyncio.ensure_future(self._drain_outbox())
        return waiter

    async def publish(self, channel, message):
        await self.publish_soon([(channel, message)], wait=True)

    async def _drain_outbox(self) -> None:
        while self._outbox:
            items, self._outbox = self._outbox, []
            waiters, self._outbox_waiters = self._outbox_waiters, []
            error = None
            try:
                async with self._lock:
                    self._ensure_redis()
                    pipe = self._redis.pipeline(transaction=False)
                    for channel, data in items:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - handed to the waiters, or logged
                error = exc
                if not waiters:
                    log.exception("chat layer: %d frames for other processes were not published", len(items))
            for waiter in waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    async def unsubscribe_unless(self, channel: str, still_needed) -> None:
        """UNSUBSCRIBE unless ``still_needed()`` says otherwise once the lock is held: a
        ``group_add`` that came in meanwhile finds the subscription kept, or (if it came in
        after) waits for the lock and subscribes again."""
        async with self._lock:
            if channel in self._subscribed_to and not still_needed():
                self._ensure_redis()
                self._ensure_receiver()
                await self._pubsub.unsubscribe(channel)
                self._subscribed_to.remove(channel)

    async def flush(self):
        if self._outbox_task is not None and not self._outbox_task.done():
            await asyncio.wait([self._outbox_task])  # what was queued still goes out
        await super().flush()

    async def _do_receiving(self):
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    # Block on the socket: no timeout context per message. An UNSUBSCRIBE of the
                    # last channel ends the wait with its confirmation.
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is not None:
                        self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except Exception:
                log.exception("chat layer: the Redis subscription failed; retrying in 1 s")
                await asyncio.sleep(1)

    def _receive_message(self, message: dict) -> None:
        name = message["channel"]
        try:
            self.channel_layer.deliver(name.decode() if isinstance(name, bytes) else name, message["data"])
        except Exception:  # noqa: BLE001 - one bad frame must not stop the subscription
            log.exception("chat layer: could not deliver a frame from %s", name)
