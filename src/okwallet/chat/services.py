"""Writes for live chat. Each service is one transaction; live events go out after commit.

Locking contract: a service that changes a conversation locks its row first
(``select_for_update``); ``conversation_accept`` and ``conversation_transfer`` lock the
agent's user row (``FOR NO KEY UPDATE``) before the conversation (agent → conversation, never
the other way), so two accepts by one agent cannot pass the concurrency limit together. Sequence numbers come from
``Conversation.last_seq`` under that lock, so they are gapless and never reused; a frame
re-sent with the same ``client_id`` returns the stored message instead of storing it twice.
"""

from __future__ import annotations

import hashlib
import logging
import re

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from okwallet.chat import events, integrations, topics
from okwallet.chat import selectors as sel
from okwallet.chat.errors import (
    AgentAtCapacity,
    AlreadyTaken,
    AttachmentRejected,
    ChatEnded,
    ChatForbidden,
    MessageEmpty,
    MessageTooLong,
    NotInQueue,
    TopicFixed,
)
from okwallet.chat.models import Attachment, CannedReply, Conversation, Message, Participant, Topic
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput
from okwallet.core.timeutil import format_local, now_utc

log = logging.getLogger(__name__)
Status = Conversation.Status
Sender = Message.Sender

ELDERLY_AGE = 60
ELDERLY_PRIORITY = 10
HANDOFF_WORDS = re.compile(
    r"(转人工|人工客服|找人工|真人|\b(talk|speak|chat) (to|with) (a |an )?(person|human|agent)\b|\bhuman\b"
    r"|representative|operator)",
    re.I,
)


def max_chars() -> int:
    return int(sel.conf("OKWALLET_CHAT_MAX_MESSAGE_CHARS", 2000))


def wants_person(text: str) -> bool:
    return bool(HANDOFF_WORDS.search(text or ""))


# --- payloads ---------------------------------------------------------------------


def sender_label(sender: str, author=None) -> str:
    """Who a message is shown as: the agent's name, "Assistant", or nothing (customer, system)."""
    if sender == Sender.AGENT and author is not None:
        return author.display_name or _("Agent")
    if sender == Sender.BOT:
        return _("Assistant")
    return ""  # customers and system notices carry no name


def author_label(msg: Message) -> str:
    return sender_label(msg.sender, msg.author if msg.author_id else None)


def message_frame(
    *, seq: int, sender: str, author: str, body: str, created_at, data: dict, client_id: str, internal: bool
) -> dict:
    """The frame for one message (``message_payload``; the chat writer builds it from the values
    it stores). ``text`` is plain text: clients insert it as text, never HTML."""
    out = {
        "type": "message",
        "seq": seq,
        "sender": sender,
        "author": author,
        "text": body,
        "created_at": created_at.isoformat() if created_at else None,
        "data": data or {},
        "client_id": client_id or None,
    }
    if internal:
        out["internal"] = True
    return out


def message_payload(msg: Message) -> dict:
    """The frame for one stored message (with its attachment, if any)."""
    out = message_frame(
        seq=msg.seq,
        sender=msg.sender,
        author=author_label(msg),
        body=msg.body,
        created_at=msg.created_at,
        data=msg.data,
        client_id=msg.client_id,
        internal=msg.internal,
    )
    att = getattr(msg, "attachment", None) if (msg.data or {}).get("kind") == "attachment" else None
    if att is not None:
        out["attachment"] = {
            "name": att.name,
            "content_type": att.content_type,
            "size": att.size,
            "url": attachment_url(att),
        }
    return out


SIGNER_SALT = "okwallet.chat.attachment"


def attachment_url(att: Attachment) -> str:
    from django.core import signing
    from django.urls import reverse

    token = signing.TimestampSigner(salt=SIGNER_SALT).sign(str(att.pk))
    return reverse("chat:attachment", args=[att.pk]) + "?t=" + token


def _emit_message(conv: Conversation, msg: Message) -> None:
    event = {**message_payload(msg), "conversation": conv.public_id}
    events.emit(events.conversation_group(conv.pk), {"type": "chat.event", "event": event})


def _emit_status(conv: Conversation) -> None:
    event = {
        "type": "status",
        "status": conv.status,
        "agent": (conv.agent.display_name if conv.agent_id else ""),
        "topic": conv.topic,
        "queue": conv.queue,
        "last_seq": conv.last_seq,
        "conversation": conv.public_id,
    }
    events.emit(events.conversation_group(conv.pk), {"type": "chat.event", "event": event})


def _emit_queue_changed() -> None:
    """After commit: every waiting customer gets their new position and wait; the console refreshes."""

    def send():
        for conv in list(sel.waiting()[:500]):
            est = sel.queue_estimate(conv)
            events._send_now(
                events.conversation_group(conv.pk),
                {"type": "chat.event", "event": {"type": "queue", "conversation": conv.public_id, **est}},
            )
        events._send_now(events.STAFF_GROUP, {"type": "chat.staff", "event": {"type": "queue_changed"}})

    transaction.on_commit(send)


def _lock(conversation_id: int) -> Conversation:
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("customer", "agent")
        .get(pk=conversation_id)
    )


def _append(
    conv: Conversation,
    *,
    sender: str,
    body: str = "",
    author=None,
    internal: bool = False,
    client_id: str = "",
    data: dict | None = None,
) -> Message:
    """Store the next message of a locked conversation and queue its delivery after commit."""
    conv.last_seq += 1
    Conversation.objects.filter(pk=conv.pk).update(last_seq=conv.last_seq)
    msg = Message.objects.create(
        conversation=conv,
        seq=conv.last_seq,
        sender=sender,
        author=author,
        body=body,
        internal=internal,
        client_id=client_id[:64],
        data=data or {},
    )
    _emit_message(conv, msg)
    return msg


def _lang(conv: Conversation):
    return translation.override("en" if conv.lang.startswith("en") else "zh-hans")


# --- customer side ---------------------------------------------------------------


@transaction.atomic
def conversation_start(
    *,
    customer=None,
    visitor_key: str = "",
    topic: str = "",
    lang: str = "zh-hans",
    via: str = Conversation.Via.WEB,
    visitor_name: str = "",
) -> tuple[Conversation, bool]:
    """Resume the caller's open conversation or start one with the assistant's greeting.

    ``topic`` is what the customer chose in the picker (a queue or topic code, see
    ``chat.topics``); without one the chat starts in the general queue. Customers aged 60 or over
    skip the assistant and join the queue with priority.
    """
    if customer is not None and not getattr(customer, "is_authenticated", False):
        customer = None
    if customer is None and not visitor_key:
        raise InvalidInput(message=_("Start the chat from the chat window."))
    existing = sel.open_conversation_for(user=customer, visitor_key=visitor_key)
    if existing is not None:
        return existing, False
    chosen = topics.resolve(topic) if topic else None
    topic, queue = chosen or (Topic.GENERAL, topics.queue_for(Topic.GENERAL))
    conv = Conversation.objects.create(
        customer=customer,
        visitor_hash="" if customer else sel.visitor_hash(visitor_key),
        visitor_name=visitor_name[:80],
        topic=topic,
        queue=queue,
        topic_source="customer" if chosen else "",
        lang="en" if lang.startswith("en") else "zh-hans",
        via=via if via in Conversation.Via.values else Conversation.Via.WEB,
    )
    Participant.objects.create(conversation=conv, user=customer, role=Participant.Role.CUSTOMER)
    with _lang(conv):
        age = integrations.customer_age(customer)
        if age is not None and age >= ELDERLY_AGE:
            conv.priority, conv.priority_reason = ELDERLY_PRIORITY, "aged_60_plus"
            conv.save(update_fields=["priority", "priority_reason"])
            _handoff_locked(conv, reason="aged_60_plus")
        else:
            greeting = (
                _(
                    "Hello, I am OK Wallet's assistant. Ask me anything, or press “Talk to a person” at any time."
                )
                if customer
                else _(
                    "Hello, I am OK Wallet's assistant. I can answer general questions here; "
                    "log in for questions about your account. Press “Talk to a person” at any time."
                )
            )
            _append(conv, sender=Sender.BOT, body=greeting, data={"kind": "greeting", "buttons": ["handoff"]})
        if chosen:
            _append_topic_notice(conv)
    return conv, True


def _append_topic_notice(conv: Conversation) -> None:
    _append(
        conv,
        sender=Sender.SYSTEM,
        body=_("Topic: %(topic)s") % {"topic": topics.queue_label(conv.queue)},
        data={"kind": "topic", "topic": conv.topic, "queue": conv.queue},
    )


def clean_text(body: str) -> str:
    """The message text as stored (NULs removed, trimmed), or ``MessageEmpty`` / ``MessageTooLong``."""
    if not isinstance(body, str):
        raise MessageEmpty()
    text = body.replace("\x00", "").strip()
    if not text:
        raise MessageEmpty()
    if len(text) > max_chars():
        raise MessageTooLong(details={"max_chars": max_chars(), "got_chars": len(text)})
    return text


def message_post(
    *,
    conversation_id: int,
    sender: str,
    body: str,
    author=None,
    client_id: str = "",
    internal: bool = False,
) -> tuple[Message, bool]:
    """Store one message (customer or agent); returns (message, created).

    Idempotent on ``client_id``: the same frame sent twice (a retry after a lost ack) returns
    the first message, also when both copies race (the unique constraint decides and the loser's
    sequence number is rolled back, so numbers stay gapless). A customer message while the
    assistant is in charge gets its answer in the same transaction; asking for a person or an
    unsure answer hands off to the queue.

    Hot path: one indexed read for the duplicate check, then ``UPDATE … SET last_seq = last_seq
    + 1 … RETURNING`` (takes the conversation's row lock and allocates the number in one
    statement) and the insert. Sockets go through ``chat.writer`` instead, which does the same
    for a whole batch of messages in three statements and falls back to this function for
    chats with the assistant and for a batch that failed.
    """
    from django.db import IntegrityError

    client_id = (client_id or "")[:64]
    if client_id:
        existing = Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
        if existing is not None:
            return existing, False
    text = clean_text(body)
    try:
        with transaction.atomic():
            return _post(
                conversation_id,
                sender=sender,
                text=text,
                author=author,
                client_id=client_id,
                internal=internal,
            ), True
    except IntegrityError:
        existing = Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
        if client_id and existing is not None:
            return existing, False
        raise


def _post(conversation_id: int, *, sender, text, author, client_id, internal) -> Message:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "UPDATE chat_conversation SET last_seq = last_seq + 1 WHERE id = %s "
            "RETURNING last_seq, status, agent_id, public_id",
            [conversation_id],
        )
        row = cur.fetchone()
    if row is None:
        raise Conversation.DoesNotExist()
    seq, status, agent_id, public_id = row
    if status not in Conversation.OPEN_STATUSES:
        raise ChatEnded()  # the atomic block rolls the number back
    if sender == Sender.AGENT and not internal and agent_id != getattr(author, "pk", None):
        participant = Participant.objects.filter(conversation_id=conversation_id, user=author).first()
        if participant is None or participant.silent or participant.left_at is not None:
            raise ChatForbidden(message=_("Accept the chat before replying."))
    msg = Message.objects.create(
        conversation_id=conversation_id,
        seq=seq,
        sender=sender,
        author=author,
        body=text,
        internal=internal,
        client_id=client_id,
        data={},
    )
    event = {**message_payload(msg), "conversation": public_id}
    events.emit(events.conversation_group(conversation_id), {"type": "chat.event", "event": event})
    if sender == Sender.CUSTOMER and status == Status.BOT:
        conv = _lock(conversation_id)
        _detect_topic(conv, text)
        with _lang(conv):
            _bot_turn(conv, text)
    return msg


def _detect_topic(conv: Conversation, text: str) -> None:
    """While the assistant is in charge, what the customer writes may name the topic (and so the
    queue) — unless they chose one themselves."""
    if conv.topic_source == "customer":
        return
    found = topics.detect(text)
    if found is None or found == conv.topic:
        return
    conv.topic, conv.queue, conv.topic_source = found, topics.queue_for(found), "bot"
    conv.save(update_fields=["topic", "queue", "topic_source"])


def _bot_turn(conv: Conversation, text: str) -> None:
    if wants_person(text):
        _handoff_locked(conv, reason="asked")
        return
    answer = integrations.bot_answer(text, lang=conv.lang)
    if answer is None or not answer.confident or not answer.answer:
        _append(
            conv,
            sender=Sender.BOT,
            body=_("I am not sure I can answer that well. Let me find a person for you."),
            data={"kind": "unsure", "confidence": answer.confidence if answer else 0.0},
        )
        _handoff_locked(conv, reason="bot_unsure")
        return
    _append(
        conv,
        sender=Sender.BOT,
        body=answer.answer,
        data={
            "kind": "bot_answer",
            "title": answer.title,
            "url": answer.url,
            "slug": answer.slug,
            "confidence": round(answer.confidence, 3),
            "buttons": ["helpful", "not_helpful", "handoff"],
        },
    )


def _handoff_locked(conv: Conversation, *, reason: str) -> None:
    if conv.status in (Status.QUEUED, Status.ACTIVE):
        return
    hours = integrations.chat_hours()
    if not hours.is_open:
        when = format_local(hours.next_open) if hours.next_open else ""
        body = (
            _("Our agents are offline now. Live chat reopens at %(when)s (Beijing time).") % {"when": when}
            if when
            else _("Our agents are offline now.")
        )
        body += " " + _("You can read the help centre, or leave a message and we will answer by email.")
        _append(
            conv,
            sender=Sender.SYSTEM,
            body=body,
            data={
                "kind": "offline",
                "next_open": hours.next_open.isoformat() if hours.next_open else None,
                "help_url": "/help/",
                "buttons": ["leave_message", "help_centre"],
            },
        )
        return
    conv.status = Status.QUEUED
    conv.queued_at = now_utc()
    conv.save(update_fields=["status", "queued_at"])
    est = sel.queue_estimate(conv)
    _append(
        conv,
        sender=Sender.SYSTEM,
        body=_("Connecting you to a person. You are number %(n)s in the queue.") % {"n": est["position"]},
        data={"kind": "queued", "reason": reason, "queue": conv.queue, **est},
    )
    _emit_status(conv)
    _emit_queue_changed()
    _assign_after_commit()


def _assign_after_commit() -> None:
    """A customer joined a queue or an agent has a free slot: offer waiting chats (chat.assignment)."""
    from okwallet.chat import assignment

    assignment.assign_after_commit()


@transaction.atomic
def conversation_handoff(*, conversation_id: int, reason: str = "asked") -> Conversation:
    """“Talk to a person”: join the queue now (or be told when chat reopens). Idempotent."""
    conv = _lock(conversation_id)
    if not conv.is_open:
        raise ChatEnded()
    with _lang(conv):
        _handoff_locked(conv, reason=reason)
    return conv


@transaction.atomic
def conversation_topic_set(*, conversation_id: int, topic: str) -> Conversation:
    """The customer picks what the chat is about (a picker code or a topic): before the handoff
    it decides the queue; while waiting it moves the chat to that queue, keeping its join time.
    Once an agent has the chat only a transfer changes the queue. Idempotent."""
    conv = _lock(conversation_id)
    if not conv.is_open:
        raise ChatEnded()
    if conv.status == Status.ACTIVE:
        raise TopicFixed()
    resolved = topics.resolve(str(topic or ""), current_topic=conv.topic)
    if resolved is None:
        raise InvalidInput(
            message=_("Choose one of the topics shown."),
            details={"topic": str(topic)[:40], "allowed": list(topics.QUEUE_CODES)},
        )
    new_topic, new_queue = resolved
    if (new_topic, new_queue) == (conv.topic, conv.queue) and conv.topic_source == "customer":
        return conv
    moved = new_queue != conv.queue
    conv.topic, conv.queue, conv.topic_source = new_topic, new_queue, "customer"
    conv.save(update_fields=["topic", "queue", "topic_source"])
    with _lang(conv):
        _append_topic_notice(conv)
    _emit_status(conv)
    if conv.status == Status.QUEUED and moved:
        _emit_queue_changed()
        _assign_after_commit()
    return conv


@transaction.atomic
def bot_feedback(*, conversation_id: int, seq: int, helpful: bool) -> Message:
    conv = _lock(conversation_id)
    msg = Message.objects.filter(conversation=conv, seq=int(seq), sender=Sender.BOT).first()
    if msg is None:
        raise InvalidInput(message=_("There is no answer with that number."), details={"seq": seq})
    if msg.data.get("helpful") is not None:
        return msg  # answered once; a second click changes nothing
    msg.data = {**msg.data, "helpful": bool(helpful)}
    msg.save(update_fields=["data"])
    if not helpful and conv.status == Status.BOT:
        with _lang(conv):
            _append(
                conv,
                sender=Sender.BOT,
                body=_("Sorry that did not help. Would you like to talk to a person?"),
                data={"kind": "offer_handoff", "buttons": ["handoff"]},
            )
    return msg


@transaction.atomic
def conversation_mark_read(*, conversation_id: int, user=None, role: str, seq: int) -> int:
    """Move the reader's read marker forward (never back); returns the marker."""
    conv = Conversation.objects.get(pk=conversation_id)
    seq = max(0, min(int(seq), conv.last_seq))
    if role == Participant.Role.CUSTOMER:
        part = Participant.objects.filter(conversation=conv, role=role).first()
    else:
        part = Participant.objects.filter(conversation=conv, user=user).first()
    if part is None:
        return 0
    if seq <= part.last_read_seq:
        return part.last_read_seq
    Participant.objects.filter(pk=part.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    if not part.silent:
        events.emit(
            events.conversation_group(conv.pk),
            {
                "type": "chat.event",
                "event": {"type": "read", "role": role, "seq": seq, "conversation": conv.public_id},
            },
        )
    return seq


@transaction.atomic
def conversation_csat(*, conversation_id: int, score: int, comment: str = "") -> Conversation:
    conv = _lock(conversation_id)
    if conv.status != Status.ENDED:
        raise InvalidInput(message=_("You can rate the chat when it has ended."))
    try:
        score = int(score)
    except (TypeError, ValueError):
        score = 0
    if not 1 <= score <= 5:
        raise InvalidInput(message=_("Choose a rating from 1 to 5."), details={"score": score})
    conv.csat_score = score
    conv.csat_comment = (comment or "")[:2000]
    conv.save(update_fields=["csat_score", "csat_comment"])
    return conv


def transcript_text(conv: Conversation, *, for_staff: bool = False) -> str:
    lines = []
    with _lang(conv):
        names = {
            Sender.CUSTOMER: _("You") if not for_staff else _("Customer"),
            Sender.BOT: _("Assistant"),
            Sender.SYSTEM: _("Notice"),
        }
        for msg in conv.messages.select_related("author", "attachment").order_by("seq"):
            if msg.internal and not for_staff:
                continue
            who = author_label(msg) if msg.sender == Sender.AGENT else names.get(msg.sender, msg.sender)
            if msg.internal:
                who = f"[{_('internal note')}] {who}"
            body = msg.body
            att = getattr(msg, "attachment", None)
            if att is not None:
                body = (body + " " if body else "") + f"[{_('attachment')}: {att.name}]"
            lines.append(f"[{format_local(msg.created_at, '%Y-%m-%d %H:%M:%S')}] {who}: {body}")
    return "\n".join(lines)


@transaction.atomic
def transcript_email(*, conversation_id: int, to: str = "") -> str:
    """Email the customer-visible transcript (to the account's email unless one is given)."""
    from django.core.validators import validate_email

    from okwallet.core.notify import notification_send

    conv = _lock(conversation_id)
    address = (to or "").strip() or (conv.customer.email if conv.customer_id else "")
    try:
        validate_email(address)
    except Exception as exc:
        raise InvalidInput(message=_("Enter an email address for the transcript.")) from exc
    with _lang(conv):
        subject = _("Your OK Wallet chat transcript (%(id)s)") % {"id": conv.public_id}
        body = (
            _("Here is the record of your chat with OK Wallet customer service.")
            + "\n\n"
            + transcript_text(conv)
        )
    notification_send(
        channel="email", kind="chat_transcript", body=body, user=conv.customer, to=address, subject=subject
    )
    conv.transcript_sent_to = address
    conv.save(update_fields=["transcript_sent_to"])
    return address


@transaction.atomic
def offline_message_submit(
    *, conversation_id: int, text: str, email: str = "", name: str = ""
) -> Conversation:
    """Outside chat hours: the customer's message becomes a ticket answered by email."""
    from django.core.validators import validate_email

    conv = _lock(conversation_id)
    if not conv.is_open:
        raise ChatEnded()
    body = clean_text(text)
    address = (email or "").strip() or (conv.customer.email if conv.customer_id else "")
    try:
        validate_email(address)
    except Exception as exc:
        raise InvalidInput(message=_("Enter the email address we should answer to.")) from exc
    _append(conv, sender=Sender.CUSTOMER, body=body, data={"kind": "offline_message", "email": address})
    with _lang(conv):
        ticket = _file_ticket(
            conv,
            subject=_("Chat message left outside hours"),
            body=body,
            category=conv.topic,
            requester_email=address,
            requester_name=name[:80] or conv.visitor_name,
            source_ref=f"chat-offline:{conv.public_id}",
        )
        conv.status = Status.OFFLINE
        conv.ended_at = now_utc()
        conv.ended_by = "customer"
        if ticket is not None:
            conv.ticket_number = ticket.number
        conv.save(update_fields=["status", "ended_at", "ended_by", "ticket_number"])
        note = _("Thank you. We have your message and will answer by email to %(email)s.") % {
            "email": address
        }
        if ticket is not None:
            note += " " + _("Your ticket number is %(number)s.") % {"number": ticket.number}
        _append(conv, sender=Sender.SYSTEM, body=note, data={"kind": "offline_received"})
    _emit_status(conv)
    return conv


def _file_ticket(
    conv: Conversation,
    *,
    subject,
    body,
    category,
    requester_email="",
    requester_name="",
    source_ref,
    actor=None,
    attachments=(),
):
    # With the chat's files first; if the helpdesk refuses one, the transcript still gets filed.
    for files in [attachments, ()] if attachments else [()]:
        try:
            with transaction.atomic():
                return integrations.ticket_create(
                    channel="chat",
                    category=category if category in Topic.values else "other",
                    subject=str(subject)[:200],
                    body=body,
                    customer=conv.customer,
                    requester_email=requester_email or (conv.customer.email if conv.customer_id else ""),
                    requester_name=requester_name,
                    actor=actor,
                    source_ref=source_ref,
                    facts={"chat": conv.public_id},
                    attachments=files,
                )
        except Exception:  # noqa: BLE001 - the chat must still end; the transcript stays in chat
            log.exception("chat: filing ticket for %s failed (%d files)", conv.public_id, len(files))
    return None


TICKET_FILE_LIMIT = 5  # helpdesk.services.MAX_ATTACHMENTS
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}


def _ticket_files(conv: Conversation) -> list[dict]:
    """The chat's files (customer's and agent's, the first five) for the transcript ticket, named
    by their checked type so the helpdesk's own type check agrees."""
    out = []
    for att in conv.attachments.order_by("id")[:TICKET_FILE_LIMIT]:
        try:
            with att.file.open("rb") as fh:
                content = fh.read()
        except OSError:
            log.warning("chat: attachment %s is missing from storage", att.pk)
            continue
        stem = att.name.rsplit(".", 1)[0] if "." in att.name else att.name
        out.append(
            {
                "filename": (stem or "file")[:100] + _EXTENSIONS.get(att.content_type, ""),
                "content_type": att.content_type,
                "content": content,
            }
        )
    return out


# --- agent side --------------------------------------------------------------------


def _lock_user(user):
    # FOR NO KEY UPDATE, not FOR UPDATE: it still serialises this agent's accepts and transfers, but
    # does not block the foreign-key checks (FOR KEY SHARE) that PostgreSQL runs at COMMIT for rows
    # pointing at the agent. With FOR UPDATE, an accept waiting for the audit chain head deadlocked
    # with the same agent's earlier action (e.g. ending another chat) committing (bench/soak.py).
    return get_user_model().objects.select_for_update(no_key=True).get(pk=user.pk)


@transaction.atomic
def conversation_accept(*, conversation_id: int, agent, request=None) -> Conversation:
    """Take a waiting chat, within the agent's concurrency limit."""
    _lock_user(agent)
    conv = _lock(conversation_id)
    if conv.status == Status.ACTIVE:
        if conv.agent_id == agent.pk:
            return conv
        raise AlreadyTaken()
    if conv.status != Status.QUEUED:
        raise NotInQueue()
    limit = sel.agent_capacity(agent)
    if sel.agent_load(agent) >= limit:
        raise AgentAtCapacity(details={"limit": limit})
    accept_locked(conv, agent=agent, how="manual")
    audit_log_write(actor=agent, action="chat.accept", obj=conv, request=request)
    _emit_queue_changed()
    _assign_after_commit()  # a pass that found this agent's row locked by us skipped them
    return conv


def accept_locked(conv: Conversation, *, agent, how: str) -> None:
    """Give a queued conversation to ``agent``. The caller holds the agent's user row lock, then
    the conversation's, and has checked the agent's limit under them (``how``: manual | auto)."""
    conv.status, conv.agent, conv.accepted_at = Status.ACTIVE, agent, now_utc()
    conv.save(update_fields=["status", "agent", "accepted_at"])
    Participant.objects.update_or_create(
        conversation=conv,
        user=agent,
        defaults={"role": Participant.Role.AGENT, "silent": False, "left_at": None},
    )
    with _lang(conv):
        _append(
            conv,
            sender=Sender.SYSTEM,
            body=_("%(name)s has joined and will help you now.")
            % {"name": agent.display_name or _("An agent")},
            data={"kind": "accepted", "how": how},
        )
    _emit_status(conv)
    events.emit(
        events.STAFF_GROUP,
        {
            "type": "chat.staff",
            "event": {"type": "assigned", "conversation": conv.public_id, "agent_id": agent.pk, "how": how},
        },
    )


def _require_handler(conv: Conversation, actor) -> None:
    if conv.agent_id == actor.pk or sel.is_supervisor(actor):
        return
    raise ChatForbidden(message=_("Only the agent handling this chat or a supervisor can do this."))


@transaction.atomic
def conversation_transfer(
    *, conversation_id: int, actor, to_agent=None, to_topic: str = "", note: str = "", request=None
) -> Conversation:
    """Hand the chat to another agent (within their limit) or back to a queue, with a note for them."""
    if to_agent is None and not to_topic:
        raise InvalidInput(message=_("Choose an agent or a queue."))
    if to_agent is not None:
        _lock_user(to_agent)
    conv = _lock(conversation_id)
    if not conv.is_open:
        raise ChatEnded()
    _require_handler(conv, actor)
    note = (note or "").strip()[:1000]
    with _lang(conv):
        if to_agent is not None:
            if to_agent.pk == conv.agent_id:
                return conv
            limit = sel.agent_capacity(to_agent)
            if sel.agent_load(to_agent) >= limit:
                raise AgentAtCapacity(details={"limit": limit})
            if conv.agent_id:
                Participant.objects.filter(conversation=conv, user_id=conv.agent_id).update(left_at=now_utc())
            conv.agent, conv.status = to_agent, Status.ACTIVE
            conv.accepted_at = conv.accepted_at or now_utc()
            conv.save(update_fields=["agent", "status", "accepted_at"])
            Participant.objects.update_or_create(
                conversation=conv,
                user=to_agent,
                defaults={"role": Participant.Role.AGENT, "silent": False, "left_at": None},
            )
            target = to_agent.display_name or to_agent.username
            body = _("%(name)s will continue helping you.") % {
                "name": to_agent.display_name or _("Another agent")
            }
        else:
            if to_topic not in Topic.values:
                raise InvalidInput(message=_("Unknown queue."), details={"topic": to_topic})
            if conv.agent_id:
                Participant.objects.filter(conversation=conv, user_id=conv.agent_id).update(left_at=now_utc())
            conv.agent, conv.status, conv.topic = None, Status.QUEUED, to_topic
            conv.queue, conv.topic_source = topics.queue_for(to_topic), "agent"
            conv.queued_at = conv.queued_at or now_utc()  # keeps its place by the original join time
            conv.save(update_fields=["agent", "status", "topic", "queue", "topic_source", "queued_at"])
            target = Topic(to_topic).label
            body = _("We are passing you to a colleague who specialises in this. Please wait a moment.")
        _append(
            conv,
            sender=Sender.SYSTEM,
            body=str(
                _("Transferred to %(target)s by %(actor)s.") % {"target": target, "actor": actor.display_name}
            )
            + (f"\n{note}" if note else ""),
            author=actor,
            internal=True,
            data={"kind": "transfer_note", "to_agent": getattr(to_agent, "pk", None), "to_topic": to_topic},
        )
        _append(conv, sender=Sender.SYSTEM, body=body, data={"kind": "transferred"})
    audit_log_write(
        actor=actor,
        action="chat.transfer",
        obj=conv,
        request=request,
        details={"to_agent": getattr(to_agent, "pk", None), "to_topic": to_topic},
    )
    _emit_status(conv)
    _emit_queue_changed()
    _assign_after_commit()  # a slot is free (and, to a queue, a chat waits)
    if to_agent is not None:
        events.emit(
            events.STAFF_GROUP,
            {
                "type": "chat.staff",
                "event": {"type": "transferred", "conversation": conv.public_id, "to_agent": to_agent.pk},
            },
        )
    return conv


@transaction.atomic
def conversation_end(
    *, conversation_id: int, by: str, actor=None, category: str = "", ticket_number: str = "", request=None
) -> Conversation:
    """End the chat (idempotent). If a person handled it, the staff transcript is attached to the
    linked ticket or to a new one in ``category``; the customer is asked for a rating."""
    conv = _lock(conversation_id)
    if conv.status in (Status.ENDED, Status.OFFLINE):
        return conv
    if by == "agent":
        _require_handler(conv, actor)
    was_queued = conv.status == Status.QUEUED
    conv.status, conv.ended_at, conv.ended_by = Status.ENDED, now_utc(), by
    if category and category in Topic.values:
        conv.category = category
    conv.save(update_fields=["status", "ended_at", "ended_by", "category"])
    Participant.objects.filter(conversation=conv, left_at__isnull=True).update(left_at=conv.ended_at)
    with _lang(conv):
        _append(
            conv,
            sender=Sender.SYSTEM,
            body=_("The chat has ended. How did we do?"),
            data={"kind": "ended", "by": by, "buttons": ["csat", "transcript"]},
        )
        if conv.accepted_at is not None or ticket_number or by == "agent":
            _attach_transcript(conv, actor=actor, ticket_number=ticket_number)
    if by == "agent":
        audit_log_write(
            actor=actor,
            action="chat.end",
            obj=conv,
            request=request,
            details={"ticket": conv.ticket_number, "category": conv.category},
        )
    _emit_status(conv)
    if was_queued:
        _emit_queue_changed()
    else:
        events.emit(
            events.STAFF_GROUP,
            {"type": "chat.staff", "event": {"type": "ended", "conversation": conv.public_id}},
        )
        if conv.agent_id:
            _assign_after_commit()  # the agent has a free slot
    return conv


def _attach_transcript(conv: Conversation, *, actor, ticket_number: str) -> None:
    transcript = transcript_text(conv, for_staff=True)
    ticket = integrations.ticket_by_number(ticket_number.strip()) if ticket_number else None
    if (
        ticket is not None
        and conv.customer_id
        and getattr(ticket, "customer_id", None) not in (None, conv.customer_id)
    ):
        raise InvalidInput(
            message=_("That ticket belongs to another customer."), details={"ticket": ticket_number}
        )
    if ticket_number and ticket is None and integrations.helpdesk_ready():
        raise InvalidInput(message=_("No ticket with that number."), details={"ticket": ticket_number})
    files = _ticket_files(conv)
    if ticket is not None:
        for batch in [files, ()] if files else [()]:
            try:
                with transaction.atomic():
                    integrations.ticket_add_message(
                        ticket=ticket,
                        body=_("Chat transcript %(id)s") % {"id": conv.public_id} + "\n\n" + transcript,
                        author=actor,
                        public=False,
                        channel="chat",
                        source_ref=f"chat:{conv.public_id}",
                        attachments=batch,
                    )
                break
            except Exception:  # noqa: BLE001
                log.exception("chat: adding transcript to %s failed (%d files)", ticket_number, len(batch))
        conv.ticket_number = ticket.number
    else:
        first = conv.messages.filter(sender=Sender.CUSTOMER).order_by("seq").first()
        subject = _("Chat: %(text)s") % {"text": (first.body[:60] if first else conv.public_id)}
        created = _file_ticket(
            conv,
            subject=subject,
            body=transcript,
            category=conv.category or conv.topic,
            source_ref=f"chat:{conv.public_id}",
            actor=actor,
            attachments=files,
        )
        if created is not None:
            conv.ticket_number = created.number
    conv.save(update_fields=["ticket_number"])


@transaction.atomic
def supervisor_join(*, conversation_id: int, supervisor, silent: bool = True, request=None) -> Participant:
    """A supervisor listens in (silent: the customer is not told) or joins openly."""
    if not sel.is_supervisor(supervisor):
        raise ChatForbidden(message=_("Only supervisors can join chats."))
    conv = _lock(conversation_id)
    if not conv.is_open:
        raise ChatEnded()
    part, _created = Participant.objects.update_or_create(
        conversation=conv,
        user=supervisor,
        defaults={"role": Participant.Role.SUPERVISOR, "silent": silent, "left_at": None},
    )
    if not silent:
        with _lang(conv):
            _append(
                conv,
                sender=Sender.SYSTEM,
                body=_("A supervisor has joined the chat."),
                data={"kind": "joined"},
            )
    audit_log_write(
        actor=supervisor, action="chat.join", obj=conv, request=request, details={"silent": silent}
    )
    return part


# --- attachments ---------------------------------------------------------------------

ALLOWED_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"%PDF-": "application/pdf",
}


def sniff_type(head: bytes) -> str | None:
    for magic, ctype in ALLOWED_TYPES.items():
        if head.startswith(magic):
            return ctype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@transaction.atomic
def attachment_add(
    *, conversation_id: int, sender: str, author=None, name: str, content: bytes, caption: str = ""
) -> Message:
    """Store an image or PDF (type from its bytes, not its name) and post it as a message."""
    from django.core.files.base import ContentFile

    max_bytes = int(sel.conf("OKWALLET_CHAT_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024))
    if not content or len(content) > max_bytes:
        raise AttachmentRejected(details={"max_bytes": max_bytes, "size": len(content or b"")})
    ctype = sniff_type(content[:16])
    if ctype is None:
        raise AttachmentRejected(details={"allowed": sorted(set(ALLOWED_TYPES.values()) | {"image/webp"})})
    conv = _lock(conversation_id)
    if not conv.is_open:
        raise ChatEnded()
    if sender == Sender.AGENT and conv.agent_id != getattr(author, "pk", None):
        # the same rule as for text: the chat's agent, or a supervisor who joined openly
        if not Participant.objects.filter(
            conversation=conv, user=author, silent=False, left_at__isnull=True
        ).exists():
            raise ChatForbidden(message=_("Accept the chat before replying."))
    safe_name = re.sub(r"[^\w.\- ]", "_", (name or "file").rsplit("/", 1)[-1])[:120] or "file"
    caption = (caption or "").strip()[: max_chars()]
    conv.last_seq += 1
    Conversation.objects.filter(pk=conv.pk).update(last_seq=conv.last_seq)
    msg = Message.objects.create(
        conversation=conv,
        seq=conv.last_seq,
        sender=sender,
        author=author,
        body=caption,
        data={"kind": "attachment"},
    )
    att = Attachment(
        conversation=conv,
        message=msg,
        name=safe_name,
        content_type=ctype,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    att.file.save(safe_name, ContentFile(content), save=False)
    att.save()
    msg.attachment = att
    _emit_message(conv, msg)
    return msg


# --- canned replies ------------------------------------------------------------------


def canned_replies_ensure() -> None:
    """The starter set of canned replies (idempotent)."""
    starters = [
        ("问候", "您好，我是OK钱包客服，很高兴为您服务。请问有什么可以帮您？", "zh-hans", "", "/hi"),
        (
            "核实身份",
            "为了保护您的账户安全，请提供注册手机号的后四位。请不要在聊天中发送密码或验证码。",
            "zh-hans",
            "",
            "/verify",
        ),
        (
            "充值未到账",
            "充值通常几分钟内到账。请提供充值时间、金额和银行流水号，我马上为您查询。",
            "zh-hans",
            "deposit",
            "/deposit",
        ),
        ("结束语", "感谢您的耐心，还有其他可以帮您的吗？", "zh-hans", "", "/bye"),
        (
            "Greeting",
            "Hello, this is OK Wallet customer service. How can I help you today?",
            "en",
            "",
            "/hi-en",
        ),
        (
            "Never share codes",
            "For your safety, never share your password or SMS codes, not even with us.",
            "en",
            "",
            "/safe-en",
        ),
    ]
    for title, body, lang, topic, shortcut in starters:
        CannedReply.objects.get_or_create(
            shortcut=shortcut, defaults={"title": title, "body": body, "lang": lang, "topic": topic}
        )
