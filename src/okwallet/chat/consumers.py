"""WebSocket consumers: the customer's chat socket and the agent console's socket.

Frames are JSON objects with a ``type``; the protocol, the error codes and the close codes are
documented in docs/chat.md. Every message is stored (and numbered) before it is sent to
anyone; a client that reconnects with ``last_seq`` receives what it missed, in order, and
the consumer never sends a sequence number twice on one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.utils import translation
from django.utils.translation import gettext as _

from okwallet.chat import assignment, events, selectors, topics, writer
from okwallet.chat import services as svc
from okwallet.chat.dispatch import dispatch_from
from okwallet.chat.errors import BadFrame, ChatNotFound, UnknownFrameType
from okwallet.chat.layers import layer_receive
from okwallet.chat.models import Conversation, Message, Participant, Topic
from okwallet.core.errors import OkError
from okwallet.core.timeutil import format_local

log = logging.getLogger(__name__)

# Close codes (docs/chat.md)
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_FLOOD = 4429

MAX_FRAME_BYTES = 16 * 1024
VISITOR_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SUBPROTOCOL = "okwallet.chat.v1"


class TokenBucket:
    """Per-connection rate limit: ``rate`` events per second, bursts of ``burst``."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after(self) -> float:
        return max(0.0, (1 - self.tokens) / self.rate)


def _run(func, /, **kwargs):
    """Run a service in the worker thread, returning (result, live events to send)."""
    with events.collecting() as sink:
        result = func(**kwargs)
    return result, list(sink)


run_service = database_sync_to_async(_run)


def _post_one(**kwargs) -> writer.Posted:
    msg, created = svc.message_post(**kwargs)
    return writer.Posted(msg.seq, msg.client_id, created, svc.message_payload(msg))


async def post_message(
    *,
    conversation_id: int,
    sender: str,
    text,
    author,
    client_id: str,
    internal=False,
    lang=None,
    with_assistant=False,
    origin=None,
) -> tuple[writer.Posted, list]:
    """Store one message; returns (what was stored, live events still to send).

    Through the process's group-commit writer (``chat.writer``: one transaction per batch of
    messages from every socket; it has sent the live event, marked with ``origin``, before this
    returns), or one transaction per message in Channels' database thread: with
    ``OKWALLET_CHAT_GROUP_COMMIT = False``, and for a chat still with the assistant
    (``with_assistant``: its answer is worked out in the same transaction and may take a while;
    it must not hold up everyone else's messages in the writer). There the events (the message,
    the assistant's answer, a handoff) are returned for the caller to send once it has sent the
    sender its own copy. Either way events go out after the commit."""
    if writer.enabled() and not with_assistant:
        posted = await writer.get_writer().post(
            conversation_id=conversation_id,
            sender=sender,
            text=svc.clean_text(text),
            author=author,
            client_id=client_id,
            internal=internal,
            lang=lang,
            origin=origin,
        )
        return posted, []
    posted, evts = await run_service(
        _post_one,
        conversation_id=conversation_id,
        sender=sender,
        author=author,
        body=text,
        client_id=client_id,
        internal=internal,
    )
    return posted, evts


class ConvRef:
    """What a socket keeps about its conversation between frames (not the model instance: an
    idle socket should cost little; everything else is read when a frame needs it)."""

    __slots__ = ("pk", "public_id", "status")

    def __init__(self, conv) -> None:
        self.pk, self.public_id, self.status = conv.pk, conv.public_id, conv.status


def _resume_point(conv: Conversation, last_seq) -> tuple[int, int | None]:
    """(the number a client has read up to, the number it gave if that was out of range)."""
    try:
        given = int(last_seq or 0)
    except (TypeError, ValueError):
        return 0, None
    if given < 0 or given > conv.last_seq:
        return 0, given
    return given, None


def _status_of(conversation_id: int) -> str | None:
    return Conversation.objects.filter(pk=conversation_id).values_list("status", flat=True).first()


def _welcome_facts():
    from okwallet.chat.integrations import chat_hours

    return chat_hours(), selectors.join_estimate()


_facts: tuple[float, object] | None = None


async def welcome_facts():
    """(chat hours, the Erlang C wait for someone joining now) for the welcome frame.

    The same for every socket at a given moment and several queries to work out, so a process
    computes them at most every ``OKWALLET_CHAT_WELCOME_FACTS_TTL_S`` seconds (default 2) instead
    of once per connecting socket. Only the welcome uses them: a handoff checks the hours afresh."""
    global _facts
    ttl = float(selectors.conf("OKWALLET_CHAT_WELCOME_FACTS_TTL_S", 2.0))
    cached = _facts
    if cached is not None and ttl > 0 and time.monotonic() - cached[0] < ttl:
        return cached[1]
    value = await database_sync_to_async(_welcome_facts)()
    _facts = (time.monotonic(), value)
    return value


class BaseChatConsumer(AsyncWebsocketConsumer):
    """Per-connection state is kept small (docs/chat.md "Connections"): the rate-limit buckets
    for typing and refused frames, the frame queue and its worker exist only once used."""

    role = "customer"
    for_staff = False
    typing_bucket: TokenBucket | None = None
    violations: TokenBucket | None = None
    _frames: list | None = None
    _worker: asyncio.Future | None = None
    _frame_waiter: asyncio.Future | None = None  # the worker waits on it for the next frame
    _acked: set | None = None  # (conversation pk, seq) of own messages sent with their ack
    _closing = False  # this side sent websocket.close: nothing more may follow it

    async def __call__(self, scope, receive, send):
        """Channels' ``AsyncConsumer.__call__`` with a cheaper message loop (chat.dispatch)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            sources.append(functools.partial(layer_receive(self.channel_layer), self.channel_name))
        self.base_send = send
        try:
            await dispatch_from(sources, self.dispatch)
        except StopConsumer:
            pass

    async def dispatch(self, message):
        # Channels (4.2+) hops to its database thread before every handler to close stale
        # connections (``aclose_old_connections``): one thread hop per frame and per event to
        # every socket, queued behind the real database work. These handlers reach the database
        # only through ``database_sync_to_async`` (which closes stale connections itself, in
        # that thread) or the writer (its own connection), so the hop buys nothing here.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        query = {k: v[-1] for k, v in parse_qs(self.scope.get("query_string", b"").decode()).items()}
        self.lang = "en" if query.get("lang", "").startswith("en") else "zh-hans"
        self.msg_bucket = TokenBucket(
            rate=float(selectors.conf("OKWALLET_CHAT_RATE_PER_S", 1.0)),
            burst=int(selectors.conf("OKWALLET_CHAT_BURST", 10)),
        )
        self.sent_seq: dict[int, int] = {}
        self.joined: dict[str, int] = {}  # public id → conversation pk (events name the public id)
        self.user = self.scope.get("user")
        await self.start(query)

    def accept_subprotocol(self) -> str | None:
        offered = self.scope.get("subprotocols") or []
        return SUBPROTOCOL if SUBPROTOCOL in offered else None

    async def disconnect(self, code):
        worker = self._worker
        if worker is not None and not worker.done():
            worker.cancel()
        for pk in list(self.joined.values()):
            await self.channel_layer.group_discard(events.conversation_group(pk), self.channel_name)
        self.joined.clear()

    # --- frames in -------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        # Frames are handled in order by a per-connection worker task, so a frame waiting for the
        # database never holds up the events this socket must deliver meanwhile (an agent with
        # 100 chats keeps receiving while their own reply is being stored). The worker starts
        # with the socket's first frame and then waits for the next one (a task per frame cost
        # a twentieth of the event loop's time in the chat benchmark's closed loop).
        if self._frames is None:
            self._frames = []
        self._frames.append((text_data, bytes_data))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._drain_frames())
        elif self._frame_waiter is not None and not self._frame_waiter.done():
            self._frame_waiter.set_result(None)

    async def _drain_frames(self):
        # The socket's language, once for the worker (its own context; nothing else sees it)
        # instead of an override per frame (Django's translation state is an asgiref Local).
        translation.activate(self.lang)
        loop = asyncio.get_running_loop()
        while not self._closing:
            frames = self._frames
            while frames and not self._closing:
                text_data, bytes_data = frames.pop(0)
                await self.handle_frame(text_data, bytes_data, lang_active=True)
            if self._closing:
                break
            self._frame_waiter = loop.create_future()
            await self._frame_waiter
            self._frame_waiter = None

    async def handle_frame(self, text_data=None, bytes_data=None, *, lang_active=False):
        """``lang_active``: the caller (the frame worker) has the socket's language active."""
        with contextlib.nullcontext() if lang_active else translation.override(self.lang):
            try:
                frame = self.parse(text_data, bytes_data)
                kind = frame.get("type")
                handler = (
                    getattr(self, "frame_" + kind, None)
                    if isinstance(kind, str) and kind.isidentifier()
                    else None
                )
                if handler is None:
                    raise UnknownFrameType(details={"type": str(kind)[:40]})
                await handler(frame)
            except OkError as exc:
                await self.send_error(exc, ref=self._ref(text_data))
            except Conversation.DoesNotExist:
                await self.send_error(ChatNotFound(), ref=self._ref(text_data))
            except Exception:  # a bug must cost one frame, not the connection
                log.exception("chat frame failed")
                await self.send_error(
                    OkError("server_error", _("Something went wrong. Please try again.")),
                    ref=self._ref(text_data),
                )

    def _ref(self, text_data) -> str | None:
        try:
            ref = (
                json.loads(text_data).get("ref") if text_data and len(text_data) <= MAX_FRAME_BYTES else None
            )
        except (ValueError, AttributeError):
            return None
        return str(ref)[:64] if ref is not None else None

    def parse(self, text_data, bytes_data) -> dict:
        if bytes_data is not None:
            raise BadFrame(message=_("Send text frames with JSON."))
        if text_data is None or len(text_data.encode()) > MAX_FRAME_BYTES:
            raise BadFrame(
                code="frame_too_large",
                message=_("The message is too large."),
                details={"max_bytes": MAX_FRAME_BYTES},
            )
        try:
            frame = json.loads(text_data)
        except ValueError as exc:
            raise BadFrame(details={"reason": "not JSON"}) from exc
        if not isinstance(frame, dict):
            raise BadFrame(details={"reason": "not an object"})
        return frame

    async def send_error(self, exc: OkError, *, ref=None):
        payload = {"type": "error", **exc.as_dict()}
        if ref is not None:
            payload["ref"] = ref
        await self.send_json(payload)
        if self.violations is None:
            self.violations = TokenBucket(rate=0.2, burst=20)  # > 20 bad frames in a burst → close
        if not self.violations.take():
            await self.close(code=CLOSE_FLOOD)

    async def close(self, code=None, reason=None):
        # The server refuses any send after websocket.close (uvicorn raises RuntimeError), so the
        # frames still queued behind a flood's close are dropped instead of answered.
        self._closing = True
        self._frames = None
        if self._frame_waiter is not None and not self._frame_waiter.done():
            self._frame_waiter.set_result(None)  # the worker ends
        await super().close(code=code, reason=reason)

    async def send_json(self, content):
        if self._closing:
            return
        try:
            await self.send(text_data=json.dumps(content, ensure_ascii=False))
        except OSError:
            # uvicorn's ClientDisconnected: the client left while a frame or event was handled
            # (its message, if any, is stored; it gets it on reconnect). Not an error.
            pass

    def limited(self, bucket: TokenBucket) -> OkError:
        return OkError(
            "rate_limited",
            _("You are sending messages too quickly. Please wait a moment."),
            details={"retry_after_seconds": round(bucket.retry_after(), 1)},
            http_status=429,
        )

    def _typing_allowed(self) -> bool:
        if self.typing_bucket is None:
            self.typing_bucket = TokenBucket(rate=2.0, burst=5)
        return self.typing_bucket.take()

    async def frame_ping(self, frame):
        await self.send_json({"type": "pong", "ref": frame.get("ref")})

    # --- joining and replay --------------------------------------------------------

    async def join(self, conv: Conversation, last_seq) -> None:
        group = events.conversation_group(conv.pk)
        if conv.public_id not in self.joined:
            # Where this connection starts, set before events can arrive (a live event that
            # skips numbers makes the socket read the gap from the database).
            self.sent_seq[conv.pk] = _resume_point(conv, last_seq)[0]
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined[conv.public_id] = conv.pk
        await self.replay(conv, last_seq)

    async def replay(self, conv: Conversation, last_seq) -> None:
        """Send every message after ``last_seq`` (what the client says it has), in order."""
        last_seq, stale = _resume_point(conv, last_seq)
        if stale is not None:
            # A sequence number from the future (another conversation, a restored backup): resync.
            await self.send_json(
                {
                    "type": "error",
                    "code": "stale_seq",
                    "message": str(_("Your chat was out of date; here is the whole conversation again.")),
                    "details": {"last_seq": conv.last_seq, "given": stale},
                }
            )
        self.sent_seq[conv.pk] = last_seq
        messages = await database_sync_to_async(selectors.messages_after)(
            conv.pk, last_seq, for_staff=self.for_staff
        )
        for msg in messages:
            await self.send_message(conv.pk, {**svc.message_payload(msg), "conversation": conv.public_id})

    async def deliver_message(self, conv_pk: int, payload: dict) -> bool:
        """A live message event: sent in sequence order, never twice (False: it was not sent,
        having gone out before).

        Numbers are allocated under the conversation's row lock (SQLite: one writer at a
        time), so when message N is committed every message before it is too. An event that
        skips numbers means an earlier one is still on its way (published by another thread or
        server: the group-commit writer and Channels' database thread publish independently)
        or was lost: the missing messages are read from the database and sent first, and the
        late event is then dropped as already sent."""
        seq = payload["seq"]
        last = self.sent_seq.get(conv_pk, 0)
        if seq > last + 1:
            missing = await database_sync_to_async(selectors.messages_between)(
                conv_pk, last, seq, for_staff=self.for_staff
            )
            for msg in missing:
                await self.send_message(
                    conv_pk, {**svc.message_payload(msg), "conversation": payload["conversation"]}
                )
            if self.sent_seq.get(conv_pk, 0) < seq - 1:
                self.sent_seq[conv_pk] = seq - 1  # the rest of the gap: internal notes a customer never sees
        return await self.send_message(conv_pk, payload)

    async def send_message(self, conv_pk: int, payload: dict) -> bool:
        seq = payload["seq"]
        if seq <= self.sent_seq.get(conv_pk, 0):
            return False  # already sent on this connection (replay and live event overlapped)
        self.sent_seq[conv_pk] = seq
        if payload.get("internal") and not self.for_staff:
            return False
        await self.send_json(payload)
        return True

    CATCH_UP_TURNS = 10

    async def _catch_up(self, conv_pk: int, seq: int) -> None:
        """Give this socket's own message loop a few turns to send what it already received up to
        ``seq``. An acknowledgement runs in the frame's task as soon as the writer hands the
        message back, while the events published before it (the agent's reply stored in the
        same batch) may still be waiting in this socket's inbox; sending our message first would
        leave a gap that ``deliver_message`` fills from the database. The in-process layer has
        put those events in the inbox before the message came back, so a few turns of the event
        loop deliver them; from another server (Redis) they may take longer, and then the
        database fills the gap as before."""
        for _turn in range(self.CATCH_UP_TURNS):
            await asyncio.sleep(0)
            if self.sent_seq.get(conv_pk, 0) >= seq:
                return

    def _sent_with_ack(self, conv_pk, seq) -> bool:
        """Did ``chat_event`` send our own message ``seq`` with its ack? (Forgets it.)"""
        acked = self._acked
        if acked is None or (conv_pk, seq) not in acked:
            return False
        acked.discard((conv_pk, seq))
        if not acked:
            self._acked = None
        return True

    async def acknowledge(self, conv_pk: int | None, public_id: str, posted, pending_events=()) -> None:
        """Tell this socket that its message is stored: with its own copy of the message carrying
        ``"ack": true`` and ``duplicate`` (one frame), or with a separate ``ack`` frame when that
        copy went out already (a replay or a gap filled from the database got there first) or
        this socket does not follow the conversation (an agent replying to a chat not watched
        here). Then the events still to send (``post_message``) go out, in order after it."""
        sent = self._sent_with_ack(conv_pk, posted.seq)
        if not sent and conv_pk is not None and self.joined.get(public_id) == conv_pk:
            if self.sent_seq.get(conv_pk, 0) < posted.seq - 1:
                await self._catch_up(conv_pk, posted.seq - 1)
                sent = self._sent_with_ack(conv_pk, posted.seq)
            if not sent:
                own = {
                    **posted.payload,
                    "conversation": public_id,
                    "ack": True,
                    "duplicate": not posted.created,
                }
                # (while a gap before it is read from the database, chat_event may send it instead)
                sent = await self.deliver_message(conv_pk, own) or self._sent_with_ack(conv_pk, posted.seq)
        if not sent:
            ack = {"type": "ack", "client_id": posted.client_id or None, "seq": posted.seq}
            if self.for_staff:
                ack["conversation"] = public_id
            ack["duplicate"] = not posted.created
            await self.send_json(ack)
        if pending_events:
            await events.send_collected(pending_events)

    # --- events from the channel layer ------------------------------------------------

    async def chat_event(self, message):
        event = message["event"]
        conv_pk = self.joined.get(event.get("conversation"))
        if conv_pk is None:
            return
        if event["type"] == "message":
            if message.get("origin") == self.channel_name:
                # Our own message, stored (the writer publishes after commit): it goes out here,
                # in the layer's order, with its ack; ``acknowledge`` then sends nothing more.
                if event["seq"] > self.sent_seq.get(conv_pk, 0):
                    # marked before the await, so ``acknowledge`` running meanwhile leaves it to us
                    if self._acked is None:
                        self._acked = set()
                    self._acked.add((conv_pk, event["seq"]))
                    await self.deliver_message(conv_pk, {**event, "ack": True, "duplicate": False})
                return
            await self.deliver_message(conv_pk, event)
        else:
            if (
                event["type"] == "status"
                and getattr(self, "conv", None) is not None
                and self.conv.pk == conv_pk
            ):
                self.conv.status = event["status"]
            await self.send_json(event)

    async def chat_typing(self, message):
        if message.get("sender") == self.channel_name:
            return
        if not self.for_staff and message.get("role") not in ("agent",):
            return
        await self.send_json(
            {
                "type": "typing",
                "role": message["role"],
                "on": message["on"],
                "conversation": message["conversation"],
            }
        )

    async def chat_staff(self, message):
        if self.for_staff:
            await self.send_json(message["event"])


class CustomerChatConsumer(BaseChatConsumer):
    """``/ws/chat/`` — one customer (session or app token) or anonymous visitor (``visitor=`` key)."""

    async def start(self, query: dict):
        authed = bool(self.user is not None and getattr(self.user, "is_authenticated", False))
        self.visitor_key = ""
        if not authed:
            self.user = None
            key = query.get("visitor", "")
            if not VISITOR_KEY.match(key):
                await self.close(code=CLOSE_NOT_AUTHENTICATED)
                return
            self.visitor_key = key
        self.via = "app" if self.scope.get("okw_token_auth") else "web"
        self.conv: ConvRef | None = None
        await self.accept(subprotocol=self.accept_subprotocol())
        pid = query.get("conversation", "")
        try:
            if pid:
                conv = await database_sync_to_async(selectors.access_conversation)(
                    public_id=pid, user=self.user, visitor_key=self.visitor_key
                )
            else:
                conv = await database_sync_to_async(selectors.open_conversation_for)(
                    user=self.user, visitor_key=self.visitor_key
                )
        except ChatNotFound:
            await self.send_json({"type": "error", **ChatNotFound().as_dict()})
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json(await self.welcome(conv))
        if conv is not None:
            self.conv = ConvRef(conv)
            await self.join(conv, query.get("last_seq", 0))
            if conv.status == Conversation.Status.QUEUED:
                await self.send_queue_estimate()

    async def welcome(self, conv: Conversation | None) -> dict:
        hours, estimate = await welcome_facts()
        with translation.override(self.lang):
            return {
                "type": "welcome",
                "conversation": conv.public_id if conv else None,
                "status": conv.status if conv else None,
                "topic": conv.topic if conv else None,
                "queue": conv.queue if conv else None,
                "topic_chosen": bool(conv and conv.topic_source == "customer"),
                "last_seq": conv.last_seq if conv else 0,
                "authenticated": self.user is not None,
                "hours": {
                    "open": hours.is_open,
                    "next_open": hours.next_open.isoformat() if hours.next_open else None,
                    # Beijing time, formatted here so the widget needs no time-zone logic.
                    "next_open_text": format_local(hours.next_open) if hours.next_open else "",
                },
                "join_estimate_s": estimate["estimated_wait_s"],
                "handoff_available": True,
                "limits": {"max_chars": svc.max_chars(), "max_frame_bytes": MAX_FRAME_BYTES},
                "topics": [{"code": c, "label": str(label)} for c, label in Topic.choices],
                "choices": topics.choices(),  # the topic picker: one per queue
            }

    async def send_queue_estimate(self):
        conv = self.conv
        if conv is None:
            return

        @database_sync_to_async
        def estimate():
            fresh = Conversation.objects.get(pk=conv.pk)
            return selectors.queue_estimate(fresh) if fresh.status == Conversation.Status.QUEUED else None

        est = await estimate()
        if est is not None:
            await self.send_json({"type": "queue", "conversation": conv.public_id, **est})

    async def call(self, func, **kwargs):
        result, evts = await run_service(func, **kwargs)
        await events.send_collected(evts)
        return result

    async def frame_start(self, frame):
        conv = self.conv
        if conv is not None and conv.status in Conversation.OPEN_STATUSES:
            await self.send_json({"type": "started", "conversation": conv.public_id, "status": conv.status})
            return
        self.conv = None
        if conv is not None:
            await self.leave(conv)

        result, evts = await run_service(
            svc.conversation_start,
            customer=self.user,
            visitor_key=self.visitor_key,
            topic=str(frame.get("topic") or "")[:40],
            lang=self.lang,
            via=self.via,
        )
        conv, _created = result
        self.conv = ConvRef(conv)
        await self.join(conv, 0)
        await events.send_collected(evts)
        await self.send_json({"type": "started", "conversation": conv.public_id, "status": conv.status})

    async def leave(self, conv):
        await self.channel_layer.group_discard(events.conversation_group(conv.pk), self.channel_name)
        self.joined.pop(conv.public_id, None)
        self.sent_seq.pop(conv.pk, None)

    async def ensure_conversation(self, frame) -> ConvRef:
        if self.conv is None:
            await self.frame_start(frame)
        return self.conv

    async def frame_message(self, frame):
        if not self.msg_bucket.take():
            raise self.limited(self.msg_bucket)
        text = frame.get("text")
        if not isinstance(text, str):
            raise BadFrame(details={"field": "text"})
        conv = await self.ensure_conversation(frame)
        posted, pending = await post_message(
            conversation_id=conv.pk,
            sender=Message.Sender.CUSTOMER,
            author=self.user,
            text=text,
            client_id=str(frame.get("client_id") or "")[:64],
            lang=self.lang,
            with_assistant=conv.status == Conversation.Status.BOT,
            origin=self.channel_name,
        )
        await self.acknowledge(conv.pk, conv.public_id, posted, pending)
        if conv.status == Conversation.Status.BOT:  # the assistant may have handed off
            await self.refresh_status()

    async def refresh_status(self):
        conv = self.conv
        if conv is not None:
            conv.status = await database_sync_to_async(_status_of)(conv.pk) or conv.status

    async def frame_handoff(self, frame):
        conv = await self.ensure_conversation(frame)
        await self.call(svc.conversation_handoff, conversation_id=conv.pk, reason="button")
        await self.refresh_status()

    async def frame_topic(self, frame):
        """The topic picker: starts the chat with that topic, or moves an open one (not yet with
        an agent) to that queue."""
        topic = frame.get("topic")
        if not isinstance(topic, str) or not topic:
            raise BadFrame(details={"field": "topic"})
        if self.conv is None or self.conv.status not in Conversation.OPEN_STATUSES:
            await self.frame_start(frame)
            return
        await self.call(svc.conversation_topic_set, conversation_id=self.conv.pk, topic=topic[:40])
        await self.refresh_status()

    async def frame_typing(self, frame):
        if self.conv is None or not self._typing_allowed():
            return  # typing is best effort: dropped silently when too frequent
        await self.channel_layer.group_send(
            events.conversation_group(self.conv.pk),
            {
                "type": "chat.typing",
                "role": "customer",
                "on": bool(frame.get("on", True)),
                "conversation": self.conv.public_id,
                "sender": self.channel_name,
            },
        )

    async def frame_read(self, frame):
        if self.conv is None:
            raise ChatNotFound()
        try:
            seq = int(frame.get("seq"))
        except (TypeError, ValueError) as exc:
            raise BadFrame(details={"field": "seq"}) from exc
        await self.call(svc.conversation_mark_read, conversation_id=self.conv.pk, role="customer", seq=seq)

    async def frame_resume(self, frame):
        if self.conv is None:
            raise ChatNotFound()
        conv = await database_sync_to_async(Conversation.objects.get)(pk=self.conv.pk)
        await self.replay(conv, frame.get("last_seq", 0))

    async def frame_feedback(self, frame):
        if self.conv is None:
            raise ChatNotFound()
        try:
            seq = int(frame.get("seq"))
        except (TypeError, ValueError) as exc:
            raise BadFrame(details={"field": "seq"}) from exc
        await self.call(
            svc.bot_feedback, conversation_id=self.conv.pk, seq=seq, helpful=bool(frame.get("helpful"))
        )
        await self.send_json({"type": "feedback_saved", "seq": seq})

    async def frame_end(self, frame):
        if self.conv is None:
            raise ChatNotFound()
        await self.call(svc.conversation_end, conversation_id=self.conv.pk, by="customer")
        await self.refresh_status()

    async def frame_csat(self, frame):
        if self.conv is None:
            raise ChatNotFound()
        await self.call(
            svc.conversation_csat,
            conversation_id=self.conv.pk,
            score=frame.get("score"),
            comment=str(frame.get("comment") or ""),
        )
        await self.send_json({"type": "csat_saved"})

    async def frame_transcript(self, frame):
        if self.conv is None:
            raise ChatNotFound()
        address = await self.call(
            svc.transcript_email, conversation_id=self.conv.pk, to=str(frame.get("email") or "")[:254]
        )
        await self.send_json({"type": "transcript_sent", "email": address})

    async def frame_offline_message(self, frame):
        conv = await self.ensure_conversation(frame)
        await self.call(
            svc.offline_message_submit,
            conversation_id=conv.pk,
            text=frame.get("text"),
            email=str(frame.get("email") or "")[:254],
            name=str(frame.get("name") or "")[:80],
        )
        await self.refresh_status()


class AgentChatConsumer(BaseChatConsumer):
    """``/ws/chat/agent/`` — console staff: queue changes, and the chats they watch or handle."""

    role = "agent"
    for_staff = True

    async def start(self, query: dict):
        from okwallet.accounts.roles import is_staff_member

        if self.user is None or not getattr(self.user, "is_authenticated", False):
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        if not await database_sync_to_async(is_staff_member)(self.user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.msg_bucket = TokenBucket(
            rate=3 * float(selectors.conf("OKWALLET_CHAT_RATE_PER_S", 1.0)),
            burst=2 * int(selectors.conf("OKWALLET_CHAT_BURST", 10)),
        )
        self.supervisor = await database_sync_to_async(selectors.is_supervisor)(self.user)
        await self.accept(subprotocol=self.accept_subprotocol())
        await self.channel_layer.group_add(events.STAFF_GROUP, self.channel_name)
        # Registered after joining the staff group, so this socket hears the chats it is given.
        state, evts = await run_service(
            assignment.agent_socket_open, agent=self.user, channel_name=self.channel_name
        )
        self._beat = asyncio.ensure_future(self._heartbeat())
        await self.send_json(
            {
                "type": "welcome",
                "role": "supervisor" if self.supervisor else "agent",
                "agent_id": self.user.pk,
                "auto_accept": state.auto_accept,
            }
        )
        await events.send_collected(evts)

    async def _heartbeat(self):
        seen = database_sync_to_async(assignment.agent_socket_seen)
        while True:
            await asyncio.sleep(assignment.HEARTBEAT_S)
            try:
                await seen(agent_id=self.user.pk, channel_name=self.channel_name)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the socket stays up
                log.exception("chat: agent heartbeat failed")

    async def disconnect(self, code):
        await self.channel_layer.group_discard(events.STAFF_GROUP, self.channel_name)
        beat = getattr(self, "_beat", None)
        if beat is not None:
            beat.cancel()
            try:
                await database_sync_to_async(assignment.agent_socket_close)(
                    agent_id=self.user.pk, channel_name=self.channel_name
                )
            except Exception:  # noqa: BLE001 - a socket row left behind goes stale by itself
                log.exception("chat: closing agent socket failed")
        await super().disconnect(code)

    async def chat_staff(self, message):
        event = message["event"]
        if "agent_id" in event:
            event = {**event, "mine": event["agent_id"] == self.user.pk}
        await self.send_json(event)

    async def conversation(self, frame) -> Conversation:
        pid = frame.get("conversation")
        if not isinstance(pid, str):
            raise BadFrame(details={"field": "conversation"})
        return await database_sync_to_async(selectors.access_conversation)(public_id=pid, user=self.user)

    async def frame_watch(self, frame):
        conv = await self.conversation(frame)
        await self.join(conv, frame.get("last_seq", 0))
        await self.send_json({"type": "watching", "conversation": conv.public_id, "status": conv.status})

    async def frame_unwatch(self, frame):
        conv = await self.conversation(frame)
        await self.channel_layer.group_discard(events.conversation_group(conv.pk), self.channel_name)
        self.joined.pop(conv.public_id, None)
        self.sent_seq.pop(conv.pk, None)

    async def frame_message(self, frame):
        if not self.msg_bucket.take():
            raise self.limited(self.msg_bucket)
        pid = frame.get("conversation")
        conv_pk = self.joined.get(pid) if isinstance(pid, str) else None
        if conv_pk is None:  # not watched on this socket: check access as for a watch
            conv = await self.conversation(frame)
            conv_pk, pid = conv.pk, conv.public_id
        text = frame.get("text")
        if not isinstance(text, str):
            raise BadFrame(details={"field": "text"})
        posted, pending = await post_message(
            conversation_id=conv_pk,
            sender=Message.Sender.AGENT,
            author=self.user,
            text=text,
            client_id=str(frame.get("client_id") or "")[:64],
            internal=bool(frame.get("internal", False)),
            lang=self.lang,
            origin=self.channel_name,
        )
        await self.acknowledge(conv_pk, pid, posted, pending)

    async def frame_typing(self, frame):
        if not self._typing_allowed():
            return
        pid = frame.get("conversation")
        conv_pk = self.joined.get(pid) if isinstance(pid, str) else None
        if conv_pk is None:
            return

        @database_sync_to_async
        def visible():
            return Participant.objects.filter(conversation_id=conv_pk, user=self.user, silent=False).exists()

        if not await visible():
            return  # a silent supervisor's typing is never shown
        await self.channel_layer.group_send(
            events.conversation_group(conv_pk),
            {
                "type": "chat.typing",
                "role": "agent",
                "on": bool(frame.get("on", True)),
                "conversation": pid,
                "sender": self.channel_name,
            },
        )

    async def frame_read(self, frame):
        conv = await self.conversation(frame)
        try:
            seq = int(frame.get("seq"))
        except (TypeError, ValueError) as exc:
            raise BadFrame(details={"field": "seq"}) from exc
        result, evts = await run_service(
            svc.conversation_mark_read, conversation_id=conv.pk, user=self.user, role="agent", seq=seq
        )
        await events.send_collected(evts)
