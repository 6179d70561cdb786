"""Group commit for chat messages: one writer thread per process stores them in batches.

Every socket of a process hands its messages to one ``ChatWriter`` thread. The thread takes
whatever is waiting (up to ``max_batch`` messages; after the first one it lingers up to
``max_wait_s`` for more) and stores the whole batch in **one transaction of about three
statements**, however many conversations it touches:

1. ``UPDATE chat_conversation SET last_seq = last_seq + CASE id WHEN … END WHERE id IN (…)
   AND status IN ('queued', 'active') RETURNING id, last_seq, status, agent_id, public_id`` —
   takes the conversations' row locks (PostgreSQL: in id order, through a ``SELECT … ORDER BY
   id FOR UPDATE`` sub-query, so two servers' writers cannot deadlock) and allocates every
   message's sequence number at once;
2. a ``SELECT`` of the client message ids already stored in those conversations (under the
   locks, so a retry racing on another server is seen);
3. one multi-row ``INSERT`` (``bulk_create``).

Then, and only then, each sender's future is resolved: the live events go out after the
commit, from the sender's event loop, in commit order, and the sender is acknowledged after
its event was handed to the channel layer. Guarantees (docs/chat.md "Group commit"):

- **Durable before delivered**: nothing is sent or acknowledged before the batch committed.
  A message still queued when the process stops is stored by ``stop()`` (called at exit); a
  message lost with a killed process was never acknowledged, so the client re-sends it and
  its ``client_id`` keeps it from being stored twice.
- **Gapless, ordered sequence numbers**: a conversation's messages are numbered in the order
  they were submitted, under its row lock; a message refused inside a batch (forbidden,
  duplicate) gives its number back before commit.
- **Nothing stored twice**: duplicates are found inside the batch (same conversation and
  ``client_id``) and against the database under the lock.
- **One bad message fails alone**: refusals are per message; if the batch itself fails
  (a database error), it is rolled back and every message is retried on its own
  (``services.message_post``), so only the bad one gets the error.

Conversations the fast path does not handle — with the assistant (the bot answers in the same
transaction), ended or missing — are written one message at a time by the same thread through
``services.message_post``, after the batch, in submission order; the error they raise goes to
their sender only.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.db import connection, connections, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from okwallet.chat import events
from okwallet.chat.errors import ChatForbidden
from okwallet.chat.models import Conversation, Message, Participant

log = logging.getLogger(__name__)
Sender = Message.Sender
FAST_STATUSES = (Conversation.Status.QUEUED, Conversation.Status.ACTIVE)


class WriterStopped(RuntimeError):
    """The writer was stopped; nothing more is accepted."""


@dataclass(slots=True)
class Posted:
    """What a sender learns once its message is stored."""

    seq: int
    client_id: str
    created: bool  # False: a duplicate of a message stored earlier (the same client_id)
    payload: dict  # the message frame (services.message_payload + "conversation")


@dataclass(slots=True, eq=False)
class _Item:
    conversation_id: int
    sender: str
    text: str
    author: object
    client_id: str
    internal: bool
    future: object  # asyncio.Future (loop is set) or concurrent.futures.Future
    loop: asyncio.AbstractEventLoop | None
    result: Posted | None = None
    error: BaseException | None = None
    events: list = field(default_factory=list)
    slow: bool = False
    lang: str | None = None  # the sender's language, for errors and texts written on its behalf
    origin: str | None = None  # the sender socket's channel: it sends its own copy (with the ack)


class ChatWriter:
    """The process's chat message writer (see the module docstring)."""

    def __init__(
        self,
        *,
        max_batch: int = 100,
        max_wait_s: float = 0.002,
        idle_close_s: float = 30.0,
        autostart: bool = True,
    ) -> None:
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.idle_close_s = idle_close_s
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._tails: dict = {}  # event loop → its last publish task (commit order per loop)
        self._tails_lock = threading.Lock()
        self.batches = 0  # statistics for tests and the benchmark
        self.messages = 0
        self.checkpoints = 0
        self._sqlite_tuned: int | None = None  # id() of the connection set up for the writer
        self._committed = threading.Event()  # a batch committed since the last checkpoint
        self._checkpointer: threading.Thread | None = None
        if autostart:
            self.start()

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._stopping:
                raise WriterStopped()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat-writer", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Store everything already submitted, then end the thread (idempotent)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            # never started: write what was queued here (the caller's thread)
            self._drain_in_this_thread()
        elif thread is not threading.current_thread():
            thread.join(timeout)
        checkpointer = self._checkpointer
        if checkpointer is not None and checkpointer is not threading.current_thread():
            self._committed.set()  # wake it: it checkpoints once more and ends
            checkpointer.join(timeout)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    # --- submitting --------------------------------------------------------------

    def _submit(self, item: _Item) -> None:
        with self._cond:
            if self._stopping:
                raise WriterStopped()
            self._queue.append(item)
            if len(self._queue) == 1 or len(self._queue) >= self.max_batch:
                self._cond.notify()

    def submit(
        self,
        *,
        conversation_id: int,
        sender: str,
        text: str,
        author=None,
        client_id: str = "",
        internal: bool = False,
    ) -> Future:
        """Queue a message from synchronous code; the future resolves to ``Posted`` once stored.

        ``text`` must already be checked (``services.clean_text``). Events are sent by the
        writer thread after the commit."""
        fut: Future = Future()
        self._submit(
            _Item(
                conversation_id,
                sender,
                text,
                author,
                (client_id or "")[:64],
                bool(internal),
                fut,
                None,
                lang=translation.get_language(),
            )
        )
        return fut

    async def post(
        self,
        *,
        conversation_id: int,
        sender: str,
        text: str,
        author=None,
        client_id: str = "",
        internal: bool = False,
        lang: str | None = None,
        origin: str | None = None,
    ) -> Posted:
        """Store a message from a socket consumer; returns once it is committed and its live
        event has gone to the channel layer (from this event loop, in commit order).

        ``origin``: the sending socket's channel name. Its live event carries it, so that socket
        skips the event and sends its own copy of the message, with the acknowledgement in it,
        when this returns (one frame instead of the copy and an ``ack``)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._submit(
            _Item(
                conversation_id,
                sender,
                text,
                author,
                (client_id or "")[:64],
                bool(internal),
                fut,
                loop,
                lang=lang or translation.get_language(),
                origin=origin,
            )
        )
        return await fut

    # --- the thread ---------------------------------------------------------------------

    def _take_batch(self) -> list[_Item] | None:
        """Block for the next batch; None when stopping and nothing is left."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                if not self._cond.wait(self.idle_close_s):
                    # Idle: give the database connection back (PostgreSQL pools, test databases).
                    self._cond.release()
                    try:
                        connections.close_all()
                    finally:
                        self._cond.acquire()
            if self.max_wait_s and len(self._queue) < self.max_batch and not self._stopping:
                deadline = time.monotonic() + self.max_wait_s
                while len(self._queue) < self.max_batch and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            n = min(self.max_batch, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def _run(self) -> None:
        try:
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                self._write_and_hand_back(batch)
        finally:
            connections.close_all()

    def _drain_in_this_thread(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            self._write_and_hand_back(batch)

    def _write_and_hand_back(self, batch: list[_Item]) -> None:
        try:
            self.write_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - a bug must not leave senders waiting
            log.exception("chat writer: batch failed")
            for item in batch:
                if item.result is None and item.error is None:
                    item.error = exc
        self.batches += 1
        self.messages += len(batch)
        self._hand_back(batch)

    # --- writing ------------------------------------------------------------------------

    # --- SQLite checkpoints off the commit path --------------------------------------------

    def _tune_sqlite(self) -> None:
        """SQLite checkpoints the WAL inside the commit that takes it past ``wal_autocheckpoint``
        pages (1,000): copying the pages back and an fsync, 20+ ms every ~0.4 s at 500 msg/s,
        with every socket's message waiting behind it. The writer's connection never does that
        (``wal_autocheckpoint=0``); a checkpointer thread with its own connection runs a
        PASSIVE checkpoint (it never blocks the writer, nor waits for readers) at most every
        ``CHECKPOINT_EVERY_S`` after commits."""
        if connection.vendor != "sqlite" or threading.current_thread() is not self._thread:
            return
        connection.ensure_connection()
        if self._sqlite_tuned == id(connection.connection):
            return
        with connection.cursor() as cur:
            cur.execute("PRAGMA wal_autocheckpoint = 0")
        self._sqlite_tuned = id(connection.connection)
        if self._checkpointer is None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="chat-writer-checkpoint", daemon=True
            )
            self._checkpointer.start()

    CHECKPOINT_EVERY_S = 0.5

    def _checkpoint_loop(self) -> None:
        try:
            while True:
                if not self._committed.wait(self.idle_close_s):
                    connections.close_all()  # idle, as the writer: give the connection back
                    continue
                stopping = self._stopping
                time.sleep(0 if stopping else self.CHECKPOINT_EVERY_S)
                self._committed.clear()
                try:
                    with connection.cursor() as cur:
                        cur.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        cur.fetchall()
                    self.checkpoints += 1
                except Exception:  # noqa: BLE001 - the next one retries; SQLite's own limit stays
                    log.warning("chat writer: WAL checkpoint failed", exc_info=True)
                    connection.close_if_unusable_or_obsolete()
                if stopping or self._stopping:
                    return
        finally:
            connections.close_all()

    def write_batch(self, batch: list[_Item]) -> None:
        """Store ``batch``: the fast path in one transaction, the rest one by one after it."""
        self._tune_sqlite()
        try:
            with transaction.atomic(durable=True):
                self._write_fast(batch)
        except Exception:
            # The batch was rolled back (a database error, a constraint we did not foresee):
            # write every message on its own so only the bad one fails.
            log.warning("chat writer: batch of %d rolled back; writing one by one", len(batch), exc_info=True)
            connection.close_if_unusable_or_obsolete()
            for item in batch:
                item.result, item.error, item.events, item.slow = None, None, [], True
        for item in batch:
            if item.slow:
                self._write_one(item)
        if self._checkpointer is not None:
            self._committed.set()

    def _write_fast(self, batch: list[_Item]) -> None:
        first: dict[tuple[int, str], _Item] = {}
        dup_in_batch: dict[_Item, _Item] = {}
        counts: dict[int, int] = {}
        for item in batch:
            if item.client_id:
                key = (item.conversation_id, item.client_id)
                if key in first:
                    dup_in_batch[item] = first[key]
                    continue
                first[key] = item
            counts[item.conversation_id] = counts.get(item.conversation_id, 0) + 1
        if not counts:
            return
        rows = _allocate(counts)  # conversation id → (last_seq after, status, agent_id, public_id)
        for item in batch:
            if item.conversation_id not in rows:
                item.slow = True  # with the assistant, ended or missing: one at a time, after
        fast = [i for i in batch if not i.slow and i not in dup_in_batch]

        stored = _stored_duplicates(fast)  # (conversation, client_id) → Message, under the locks
        allowed = _agents_allowed(fast, rows)
        from okwallet.chat.services import message_frame, message_payload, sender_label

        created_at = timezone.now()  # one commit, one time for the batch
        accepted: dict[int, int] = {}
        new: list[tuple[_Item, int]] = []
        for item in fast:
            conv_id = item.conversation_id
            public_id = rows[conv_id][3]
            existing = stored.get((conv_id, item.client_id)) if item.client_id else None
            if existing is not None:
                item.result = Posted(
                    existing.seq,
                    existing.client_id,
                    False,
                    {**message_payload(existing), "conversation": public_id},
                )
                continue
            if (
                item.sender == Sender.AGENT
                and not item.internal
                and rows[conv_id][2] != getattr(item.author, "pk", None)
                and (conv_id, getattr(item.author, "pk", None)) not in allowed
            ):
                item.error = ChatForbidden(message=gettext_lazy("Accept the chat before replying."))
                continue
            n = accepted.get(conv_id, 0) + 1
            accepted[conv_id] = n
            new.append((item, rows[conv_id][0] - counts[conv_id] + n))
        # Numbers of refused messages go back, so the sequence stays gapless.
        for conv_id, wanted in counts.items():
            if conv_id in rows and accepted.get(conv_id, 0) != wanted:
                Conversation.objects.filter(pk=conv_id).update(
                    last_seq=rows[conv_id][0] - wanted + accepted.get(conv_id, 0)
                )
        if new:
            _insert(new, created_at)
        for item, seq in new:
            payload = message_frame(
                seq=seq,
                sender=item.sender,
                author=sender_label(item.sender, item.author),
                body=item.text,
                created_at=created_at,
                data={},
                client_id=item.client_id,
                internal=item.internal,
            )
            payload["conversation"] = rows[item.conversation_id][3]
            item.result = Posted(seq, item.client_id, True, payload)
            event = {"type": "chat.event", "event": payload}
            if item.origin:
                event["origin"] = item.origin
            item.events = [(events.conversation_group(item.conversation_id), event)]
        for item, original in dup_in_batch.items():
            if original.slow:
                item.slow = True
            elif original.result is not None:
                r = original.result
                item.result = Posted(r.seq, r.client_id, False, r.payload)
            else:
                item.error = original.error

    def _write_one(self, item: _Item) -> None:
        """The general path (``services.message_post``), in its own transaction."""
        from okwallet.chat import services as svc

        try:
            lang = translation.override(item.lang) if item.lang else contextlib.nullcontext()
            with events.collecting() as sink, lang:
                msg, created = svc.message_post(
                    conversation_id=item.conversation_id,
                    sender=item.sender,
                    body=item.text,
                    author=item.author,
                    client_id=item.client_id,
                    internal=item.internal,
                )
            public_id = (
                Conversation.objects.filter(pk=item.conversation_id)
                .values_list("public_id", flat=True)
                .first()
            )
            item.result = Posted(
                msg.seq, msg.client_id, created, {**svc.message_payload(msg), "conversation": public_id}
            )
            item.events = list(sink)
        except Exception as exc:  # noqa: BLE001 - the error belongs to this message's sender
            item.error = exc
            if not getattr(exc, "code", None) and not isinstance(exc, Conversation.DoesNotExist):
                log.exception("chat writer: message failed")
            connection.close_if_unusable_or_obsolete()

    # --- handing results back ---------------------------------------------------------

    def _hand_back(self, batch: list[_Item]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in batch:
            if item.loop is None:
                for group, event in item.events:
                    try:
                        events._send_now(group, event)
                    except Exception:  # noqa: BLE001 - stored; the client gets it on resume
                        log.exception("chat writer: live event failed")
                _resolve(item)
            else:
                by_loop.setdefault(item.loop, []).append(item)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._publish_in_loop, loop, items)
            except RuntimeError:
                pass  # that loop is closed: nobody is waiting; the messages are stored

    def _publish_in_loop(self, loop, items: list[_Item]) -> None:
        with self._tails_lock:
            previous = self._tails.get(loop)
            task = loop.create_task(self._publish(previous, items))
            self._tails[loop] = task
            if len(self._tails) > 1:  # forget loops that are gone (tests run one loop per case)
                for other in [lp for lp in self._tails if lp.is_closed()]:
                    del self._tails[other]

    @staticmethod
    async def _publish(previous, items: list[_Item]) -> None:
        """Send the batch's live events, then resolve its senders' futures.

        Batches go out in commit order (each waits for the previous one), a batch's events in
        order: over Redis in one pipelined round trip per shard (``group_send_many``), in the
        in-process layer one after the other (a send never waits)."""
        if previous is not None and not previous.done():
            # its own failure is logged by it; this batch goes out after it either way
            await asyncio.wait([previous])
        from channels.layers import get_channel_layer

        from okwallet.chat.layers import excludes_origin, group_send_many

        layer = get_channel_layer()
        # The sender's socket sends its own copy (with the ack): the layer leaves it out if it can.
        exclude = layer is not None and excludes_origin(layer)
        sends = (
            []
            if layer is None
            else [
                (group, event, event.get("origin") if exclude else None)
                for item in items
                for group, event in item.events
            ]
        )
        pipelined = False
        if sends:
            try:
                # Redis: the batch in one pipelined round trip per shard (chat.redis_layer)
                pipelined = await group_send_many(layer, sends)
            except Exception:  # noqa: BLE001 - stored; the clients get them on resume
                pipelined = True
                log.exception("chat writer: live events failed")
        if not pipelined:
            for group, event, origin in sends:
                try:
                    if origin:
                        await layer.group_send(group, event, exclude=origin)
                    else:
                        await layer.group_send(group, event)
                except Exception:  # noqa: BLE001 - stored; the client gets it on resume
                    log.exception("chat writer: live event failed")
        for item in items:
            _resolve(item)


def _resolve(item: _Item) -> None:
    fut = item.future
    if fut.done():
        return  # the sender went away (socket closed); the message is stored all the same
    if item.error is not None:
        fut.set_exception(item.error)
    else:
        fut.set_result(item.result)


def _allocate(counts: dict[int, int]) -> dict[int, tuple]:
    """Lock the conversations that take the fast path and allocate ``counts[id]`` numbers each.

    Returns ``{conversation id: (last_seq after, status, agent_id, public_id)}`` for the
    conversations with a person or waiting for one; the others (with the assistant, ended,
    missing) are left untouched. The SQL text holds only the model's table name and
    placeholders; every value is a parameter."""
    ids = sorted(counts)
    marks = ", ".join(["%s"] * len(ids))
    case = " ".join(["WHEN %s THEN %s"] * len(ids))
    table = connection.ops.quote_name(Conversation._meta.db_table)
    if connection.vendor == "postgresql":
        # Lock in id order first (ORDER BY is applied before FOR UPDATE), as every writer does,
        # so two servers' writers never wait for each other in a circle.
        where = f"id IN (SELECT id FROM {table} WHERE id IN ({marks}) AND status IN (%s, %s) ORDER BY id FOR UPDATE)"  # noqa: S608  # nosec B608 - table name and placeholders only
    else:  # SQLite: one writer at a time (BEGIN IMMEDIATE), no row locks
        where = f"id IN ({marks}) AND status IN (%s, %s)"
    sql = f"UPDATE {table} SET last_seq = last_seq + CASE id {case} END WHERE {where} RETURNING id, last_seq, status, agent_id, public_id"  # noqa: S608  # nosec B608 - table name and placeholders only
    params = [v for cid in ids for v in (cid, counts[cid])] + ids + [str(s) for s in FAST_STATUSES]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return {row[0]: row[1:] for row in cur.fetchall()}


def _stored_duplicates(items: list[_Item]) -> dict[tuple[int, str], Message]:
    """Messages already stored with the client ids of ``items`` (a frame re-sent after a lost
    ack, perhaps to another server): one query for the ids, the rows only when there are any.

    ``NOT (client_id = '')`` repeats, word for word, the condition of the partial unique index on
    (conversation, client_id): SQLite uses a partial index only when the query's WHERE holds that
    term (``client_id <> ''`` is not enough), and without it read every message of the batch's
    conversations (a third of the writer's time in a profile of the chat benchmark's closed loop,
    growing with the conversations' length)."""
    keys = {(i.conversation_id, i.client_id) for i in items if i.client_id}
    if not keys:
        return {}
    conv_ids, client_ids = sorted({k[0] for k in keys}), sorted({k[1] for k in keys})
    table = connection.ops.quote_name(Message._meta.db_table)
    sql = f"SELECT id, conversation_id, client_id FROM {table} WHERE conversation_id IN ({', '.join(['%s'] * len(conv_ids))}) AND client_id IN ({', '.join(['%s'] * len(client_ids))}) AND NOT (client_id = '')"  # noqa: S608  # nosec B608 - table name and placeholders only
    with connection.cursor() as cur:
        cur.execute(sql, [*conv_ids, *client_ids])
        found = [row[0] for row in cur.fetchall() if (row[1], row[2]) in keys]
    if not found:
        return {}
    return {
        (m.conversation_id, m.client_id): m
        for m in Message.objects.filter(pk__in=found).select_related("author", "attachment")
    }


_INSERT_COLUMNS = (
    "conversation_id",
    "seq",
    "sender",
    "author_id",
    "body",
    "internal",
    "client_id",
    "data",
    "created_at",
)


def _insert(new: list[tuple[_Item, int]], created_at) -> None:
    """One multi-row ``INSERT`` of the batch's messages (values prepared by the model's fields)."""
    fields = {f.column: f for f in Message._meta.concrete_fields}
    data = fields["data"].get_db_prep_save({}, connection)
    when = fields["created_at"].get_db_prep_save(created_at, connection)
    table = connection.ops.quote_name(Message._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _INSERT_COLUMNS)
    row = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"
    # SQLite allows 999 parameters in a statement (Django's limit for it): chunk the rows.
    per_statement = max(1, 999 // len(_INSERT_COLUMNS)) if connection.vendor == "sqlite" else len(new)
    with connection.cursor() as cur:
        for start in range(0, len(new), per_statement):
            chunk = new[start : start + per_statement]
            params: list = []
            for item, seq in chunk:
                author_id = getattr(item.author, "pk", None)
                params += [item.conversation_id, seq, item.sender, author_id, item.text]
                params += [item.internal, item.client_id, data, when]
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(chunk))}"  # noqa: S608  # nosec B608 - model names and placeholders only
            cur.execute(sql, params)


def _agents_allowed(items: list[_Item], rows: dict[int, tuple]) -> set[tuple[int, int]]:
    """(conversation, user) pairs where a replying agent who is not the chat's agent has joined
    openly (a supervisor); one query, only when there is such a reply."""
    need = {
        (i.conversation_id, getattr(i.author, "pk", None))
        for i in items
        if i.sender == Sender.AGENT
        and not i.internal
        and rows[i.conversation_id][2] != getattr(i.author, "pk", None)
    }
    if not need:
        return set()
    found = Participant.objects.filter(
        conversation_id__in={c for c, _ in need},
        user_id__in={u for _, u in need if u is not None},
        silent=False,
        left_at__isnull=True,
    ).values_list("conversation_id", "user_id")
    return set(found) & need


# --- the process's writer ----------------------------------------------------------------

_writer: ChatWriter | None = None
_writer_lock = threading.Lock()


def enabled() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "OKWALLET_CHAT_GROUP_COMMIT", True))


def get_writer() -> ChatWriter:
    """The process's writer, started on first use (and again after ``shutdown``)."""
    global _writer
    writer = _writer
    if writer is not None:
        return writer
    with _writer_lock:
        if _writer is None:
            from django.conf import settings

            _writer = ChatWriter(
                max_batch=int(getattr(settings, "OKWALLET_CHAT_WRITER_BATCH", 100)),
                max_wait_s=float(getattr(settings, "OKWALLET_CHAT_WRITER_WAIT_MS", 2)) / 1000,
            )
        return _writer


def shutdown(timeout: float = 30.0) -> None:
    """Store what is queued and stop the process's writer (at exit; tests between cases)."""
    global _writer
    with _writer_lock:
        writer, _writer = _writer, None
    if writer is not None:
        writer.stop(timeout)


atexit.register(shutdown)
