"""Writes on tickets. Every channel (web, email, chat, phone, voicemail, API) comes through here.

Locking contract: a service that changes a ticket locks that ticket row (``select_for_update``)
first; merges lock both tickets in id order. Side effects (hooks, notifications, webhooks) are
queued with ``transaction.on_commit`` so nothing leaves for a rolled-back change.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import nh3
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from okwallet.accounts.roles import SENIOR_MANAGER, has_role, is_staff_member
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput, NotFound
from okwallet.core.timeutil import now_utc, to_local
from okwallet.helpdesk import errors, search, sla
from okwallet.helpdesk.models import (
    OPEN_STATUSES,
    AgentPresence,
    Attachment,
    Category,
    Channel,
    DailySequence,
    Priority,
    Queue,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
)

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 5
ALLOWED_TYPES = {
    "image/png": (b"\x89PNG",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF",),
    "text/plain": (),
    "text/csv": (),
    "message/rfc822": (),
}

# Queue codes, their names and the categories that land there.
QUEUES = {
    "payments": ("充值与提现", "Deposits & withdrawals", "email"),
    "security": ("账户安全", "Security", "security"),
    "account": ("账户服务", "Account", "email"),
    "complaints": ("投诉与建议", "Complaints & suggestions", "complaints"),
    "general": ("综合咨询", "General", "email"),
}
CATEGORY_QUEUE = {
    Category.DEPOSIT: "payments",
    Category.WITHDRAWAL: "payments",
    Category.TRANSFER: "payments",
    Category.SECURITY: "security",
    Category.PASSWORD: "security",
    Category.ACCOUNT_CLOSURE: "account",
    Category.COMPLAINT: "complaints",
    Category.SUGGESTION: "complaints",
    Category.OTHER: "general",
}
DEFAULT_PRIORITY = {Category.SECURITY: Priority.HIGH, Category.COMPLAINT: Priority.HIGH}
# ``Choices.values`` builds a new list on every access; the hot paths check against these.
CHANNELS = frozenset(Channel.values)
CATEGORIES = frozenset(Category.values)
PRIORITIES = frozenset(Priority.values)


def queues_ensure() -> dict[str, Queue]:
    """The standard queues exist (idempotent; also repairs flushed test databases)."""
    found = {q.code: q for q in Queue.objects.filter(code__in=QUEUES)}
    for code, (name, name_en, schedule) in QUEUES.items():
        if code not in found:
            found[code], _created = Queue.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "name_en": name_en,
                    "schedule": schedule,
                    "restricted": code == "complaints",
                    "strategy": Queue.Strategy.MANUAL
                    if code == "complaints"
                    else Queue.Strategy.LEAST_LOADED,
                },
            )
    return found


def queue_for_category(category: str) -> Queue:
    return queues_ensure()[CATEGORY_QUEUE.get(category, "general")]


def _next_number(at: datetime) -> str:
    """``OK`` + local yymmdd + 6-digit daily sequence. One upsert statement, so concurrent
    creators (PostgreSQL row lock, SQLite's single writer) never get the same number."""
    day = to_local(at).strftime("%y%m%d")
    last = _reserve_numbers(day, 1)
    return f"OK{day}{last:06d}"


def _reserve_numbers(day: str, count: int) -> int:
    """Take ``count`` numbers of the day's sequence with one upsert; returns the last one taken
    (the block is ``last - count + 1 .. last``). The row stays locked until the transaction
    ends (PostgreSQL; SQLite has one writer), like every number taken."""
    table = DailySequence._meta.db_table  # our own table name, not input
    sql = f"INSERT INTO {table} (day, last) VALUES (%s, %s) ON CONFLICT (day) DO UPDATE SET last = {table}.last + %s RETURNING last"  # noqa: S608, E501  # nosec B608 - table name is ours
    with connection.cursor() as cursor:
        cursor.execute(sql, [day, count, count])
        (value,) = cursor.fetchone()
    return int(value)


class NumberBlock:
    """Ticket numbers for a batch, taken from the daily sequence a block at a time.

    ``next(at)`` hands out the next number of ``at``'s local day; a new block is taken when one
    runs out (``hint`` numbers the first time, then doubling up to 256). ``release()`` gives the
    unused end of every block back when nobody took numbers after it (in the same transaction);
    otherwise those numbers are simply skipped: numbers stay unique, a gap is harmless. Call
    ``release`` in the transaction that took the blocks."""

    def __init__(self, hint: int = 1) -> None:
        self.hint = max(1, hint)
        self._blocks: dict[str, list[int]] = {}  # day -> [next, last, taken so far]

    def next(self, at: datetime) -> str:
        day = to_local(at).strftime("%y%m%d")
        block = self._blocks.get(day)
        if block is None or block[0] > block[1]:
            size = self.hint if block is None else min(256, max(self.hint, block[2]) * 2)
            last = _reserve_numbers(day, size)
            block = self._blocks[day] = [last - size + 1, last, (block[2] if block else 0) + size]
        number = block[0]
        block[0] += 1
        return f"OK{day}{number:06d}"

    def release(self) -> None:
        table = DailySequence._meta.db_table
        sql = f"UPDATE {table} SET last = %s WHERE day = %s AND last = %s"  # noqa: S608  # nosec B608 - table name is ours
        with connection.cursor() as cursor:
            for day, (nxt, last, _taken) in self._blocks.items():
                if nxt <= last:
                    cursor.execute(sql, [nxt - 1, day, last])
        self._blocks.clear()


def _event(ticket: Ticket, kind: str, *, actor=None, at: datetime | None = None, **details) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        kind=kind,
        details=details,
        created_at=at or now_utc(),
    )


def _clean_html(html: str) -> str:
    return nh3.clean(html) if html else ""


def _read_upload(item) -> tuple[str, str, bytes]:
    if isinstance(item, dict):
        filename = str(item.get("filename") or "file")
        content = item.get("content") or b""
        content_type = item.get("content_type") or ""
    else:  # UploadedFile
        if item.size > MAX_ATTACHMENT_BYTES:
            raise errors.AttachmentTooLarge(
                details={"filename": item.name, "max_bytes": MAX_ATTACHMENT_BYTES}
            )
        filename, content_type = item.name, getattr(item, "content_type", "") or ""
        content = item.read()
    if isinstance(content, str):
        content = content.encode()
    return filename[:200], content_type.split(";")[0].strip().lower(), content


def _validated_attachments(attachments: Iterable) -> list[tuple[str, str, bytes]]:
    items = list(attachments or ())
    if len(items) > MAX_ATTACHMENTS:
        raise InvalidInput(
            "too_many_attachments",
            _("At most %(n)d files per message.") % {"n": MAX_ATTACHMENTS},
        )
    out = []
    for item in items:
        filename, content_type, content = _read_upload(item)
        if len(content) > MAX_ATTACHMENT_BYTES:
            raise errors.AttachmentTooLarge(details={"filename": filename, "max_bytes": MAX_ATTACHMENT_BYTES})
        guessed = mimetypes.guess_type(filename)[0] or ""
        content_type = content_type if content_type in ALLOWED_TYPES else guessed
        if content_type not in ALLOWED_TYPES or (guessed and guessed not in ALLOWED_TYPES):
            raise errors.AttachmentTypeForbidden(details={"filename": filename, "content_type": content_type})
        magics = ALLOWED_TYPES[content_type]
        if magics and not any(content.startswith(m) for m in magics):
            raise errors.AttachmentTypeForbidden(details={"filename": filename, "content_type": content_type})
        out.append((filename, content_type, content))
    return out


def _store_attachments(ticket: Ticket, message: TicketMessage, files) -> None:
    _store_attachments_many([(ticket, message, files)])


def _store_attachments_many(items) -> None:
    """Files of many messages: ``items`` are (ticket, message, validated files). Content-addressed
    (``helpdesk/<sha256[:2]>/<sha256>``): content already stored, or twice in this call, is
    written once and shared; the rows go in with one insert."""
    from okwallet.core.bulk import insert_rows

    rows: list[Attachment] = []
    stored: dict[str, str] = {}  # digest -> storage name
    for ticket, message, files in items:
        for filename, content_type, content in files:
            digest = hashlib.sha256(content).hexdigest()
            att = Attachment(
                ticket=ticket,
                message=message,
                filename=filename,
                content_type=content_type,
                size=len(content),
                sha256=digest,
            )
            name = stored.get(digest)
            if name is None:
                name = _stored_copy(att, digest, len(content))
            if name is None:
                att.file.save(digest, ContentFile(content), save=False)
                name = att.file.name
            else:
                att.file = name
            stored[digest] = name
            rows.append(att)
    insert_rows(Attachment, rows)


def _stored_copy(att: Attachment, digest: str, size: int) -> str | None:
    """The storage name of identical content stored before, if any (same digest and size)."""
    field = Attachment._meta.get_field("file")
    name = field.generate_filename(att, digest)
    storage = field.storage
    try:
        if storage.exists(name) and storage.size(name) == size:
            return name
    except (OSError, NotImplementedError):
        return None
    return None


def _after_commit(func, *args, **kwargs) -> None:
    # robust: the change is committed; a failing channel (mail, chat) is logged, not raised at the agent.
    transaction.on_commit(lambda: func(*args, **kwargs), robust=True)


def _emit(event: str, ticket: Ticket) -> None:
    from okwallet.helpdesk.webhooks import webhook_emit

    webhook_emit(event=event, ticket=ticket)


def _ticket_checked(
    *, channel: str, category: str, subject: str, body: str, priority
) -> tuple[str, str, int]:
    """Validate a new ticket's channel, category, text and priority; (subject, body, priority)."""
    if channel not in CHANNELS:
        raise InvalidInput("invalid_channel", _("Unknown channel."), details={"channel": channel})
    if category not in CATEGORIES:
        raise errors.InvalidCategory(details={"category": category, "allowed": list(Category.values)})
    subject = (subject or "").strip()[:200]
    body = (body or "").strip()
    if not subject and body:
        subject = body.splitlines()[0][:80]
    if not subject or not body:
        raise InvalidInput("ticket_empty", _("Please describe your question."))
    if priority is None:
        priority = DEFAULT_PRIORITY.get(category, Priority.NORMAL)
    priority = int(priority)
    if priority not in PRIORITIES:
        raise InvalidInput("invalid_priority", _("Unknown priority."), details={"priority": priority})
    return subject, body, priority


def ticket_create(
    *,
    channel: str,
    category: str,
    subject: str,
    body: str,
    customer=None,
    requester_email: str = "",
    requester_name: str = "",
    requester_phone: str = "",
    priority=None,
    actor=None,
    source_ref: str = "",
    facts: dict | None = None,
    attachments=(),
    body_html: str = "",
    tags: Iterable[str] = (),
    auto_assign: bool = True,
) -> Ticket:
    """Open a ticket with its first (customer) message; route it to its queue, start its SLA
    clocks and, for complaints, the regulatory deadlines. Idempotent on ``(channel, source_ref)``
    when ``source_ref`` is given: the same inbound email or chat creates one ticket.

    Creating many at once (the email path): ``okwallet.helpdesk.batch.TicketBatch``."""
    subject, body, priority = _ticket_checked(
        channel=channel, category=category, subject=subject, body=body, priority=priority
    )
    if source_ref:
        existing = Ticket.objects.filter(channel=channel, source_ref=source_ref).first()
        if existing is not None:
            return existing
    files = _validated_attachments(attachments)
    if customer is not None and not getattr(customer, "is_authenticated", True):
        customer = None
    try:
        with transaction.atomic():
            new = ticket_build(
                channel=channel,
                category=category,
                subject=subject,
                body=body,
                body_html=body_html,
                customer=customer,
                requester_email=requester_email,
                requester_name=requester_name,
                requester_phone=requester_phone,
                priority=priority,
                actor=actor,
                source_ref=source_ref,
                facts=facts or {},
                tags=tags,
                queue=queue_for_category(category),
            )
            ticket, message = new.ticket, new.messages[0]
            ticket.save(force_insert=True)
            message.ticket = ticket
            message.save(force_insert=True)
            _store_attachments(ticket, message, files)
            if new.reference:
                TicketLink.objects.create(
                    ticket=ticket, kind=TicketLink.Kind.TRANSACTION, reference=new.reference
                )
            _ticket_created_side_effects(ticket, actor=actor)
    except IntegrityError:
        if source_ref:
            existing = Ticket.objects.filter(channel=channel, source_ref=source_ref).first()
            if existing is not None:
                return existing
        raise
    if auto_assign:
        from okwallet.helpdesk.routing import ticket_auto_assign

        ticket_auto_assign(ticket=ticket)
        ticket.refresh_from_db()
    return ticket


@dataclass
class NewTicket:
    """A ticket and its messages built in memory, not saved yet (see ``ticket_build``)."""

    ticket: Ticket
    messages: list[TicketMessage]
    reference: str = ""  # a transaction reference to link once saved
    files: dict[int, list] = field(default_factory=dict)  # message index -> validated files


def ticket_build(
    *,
    channel,
    category,
    subject,
    body,
    body_html,
    customer,
    requester_email,
    requester_name,
    requester_phone,
    priority,
    actor,
    source_ref,
    facts,
    tags,
    queue: Queue,
    policies=None,
    numbers: NumberBlock | None = None,
) -> NewTicket:
    """The ticket row (number taken, SLA clocks and complaint deadlines set) and its first
    message, unsaved. Arguments already validated by ``_ticket_checked``; ``numbers``: take the
    number from a batch's block instead of one upsert."""
    at = now_utc()
    if customer is not None:
        requester_name = requester_name or customer.display_name or ""
        requester_email = requester_email or customer.email or ""
        requester_phone = requester_phone or customer.phone or ""
    ticket = Ticket(
        number=numbers.next(at) if numbers is not None else _next_number(at),
        channel=channel,
        source_ref=source_ref[:200],
        category=category,
        priority=priority,
        status=Status.NEW,
        subject=subject,
        queue=queue,
        customer=customer,
        requester_name=requester_name[:100],
        requester_email=(requester_email or "")[:254],
        requester_phone=(requester_phone or "")[:20],
        tags=sorted({t.strip()[:40] for t in tags if t and t.strip()}),
        facts=facts,
        created_at=at,
        updated_at=at,
        last_customer_message_at=at,
        search_tokens=search.tokens_text(subject, body),
    )
    sla.start_clocks(ticket, at=at, policies=policies)
    if category == Category.COMPLAINT:
        from okwallet.helpdesk.complaints import complaint_deadlines

        first, outcome = complaint_deadlines(at)
        ticket.complaint_first_contact_due = first
        ticket.complaint_outcome_due = outcome
        ticket.first_response_due = min(ticket.first_response_due, first)
    staff_author = actor if is_staff_member(actor) else None
    message = TicketMessage(
        ticket=ticket,
        kind=TicketMessage.Kind.CUSTOMER,
        public=True,
        author=customer
        or (None if staff_author else actor if getattr(actor, "is_authenticated", False) else None),
        channel=channel,
        source_ref=source_ref[:200],
        body=body,
        body_html=_clean_html(body_html),
        created_at=at,
    )
    reference = str((facts or {}).get("reference", "")).strip()[:64]
    return NewTicket(ticket=ticket, messages=[message], reference=reference)


def _ticket_created_side_effects(ticket: Ticket, *, actor, emit: bool = True) -> TicketEvent:
    """After a new ticket's rows are written: its event, the audit entry when an agent opened
    it for a customer, the webhook, and a complaint's acknowledgement. Returns the event unsaved
    when ``emit`` is False (the batch writes events and webhooks for many tickets at once)."""
    event = TicketEvent(
        ticket=ticket,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        kind="created",
        details={"channel": ticket.channel, "queue": ticket.queue.code},
        created_at=ticket.created_at,
    )
    if emit:
        event.save(force_insert=True)
    if is_staff_member(actor):
        audit_log_write(actor=actor, action="ticket.created_for_customer", obj=ticket)
    if emit:
        _emit("ticket.created", ticket)
    if ticket.customer_id is not None and ticket.category == Category.COMPLAINT:
        from okwallet.helpdesk.complaints import complaint_acknowledge

        complaint_acknowledge(ticket=ticket)
    return event


def _lock(ticket: Ticket) -> Ticket:
    return (
        Ticket.objects.select_for_update(of=("self",)).select_related("queue", "customer").get(pk=ticket.pk)
    )


def ticket_add_message(
    *,
    ticket: Ticket,
    body: str,
    author=None,
    public: bool = True,
    channel: str = "web",
    source_ref: str = "",
    attachments=(),
    body_html: str = "",
    from_customer: bool | None = None,
    set_status: str | None = None,
    request=None,
) -> TicketMessage:
    """Add a customer message, an agent's public reply or an internal note.

    A customer message reopens a solved ticket and restarts the next-response clock; an agent's
    public reply stops it and (unless ``set_status`` says otherwise) waits for the customer.
    Closed tickets take no messages. Idempotent on ``source_ref``."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput("message_empty", _("The message is empty."))
    if channel not in Channel.values:
        raise InvalidInput("invalid_channel", _("Unknown channel."))
    if source_ref:
        existing = TicketMessage.objects.filter(ticket=ticket, source_ref=source_ref).first()
        if existing is not None:
            return existing
    if from_customer is None:
        from_customer = not is_staff_member(author)
    if from_customer and not public:
        raise InvalidInput("note_needs_agent", _("Only agents can write internal notes."))
    if set_status is not None and set_status not in Status.values:
        raise InvalidInput("invalid_status", _("Unknown status."))
    files = _validated_attachments(attachments)
    with transaction.atomic():
        ticket_row = _lock(ticket)
        if ticket_row.status == Status.CLOSED:
            raise errors.TicketClosed(details={"number": ticket_row.number})
        if ticket_row.merged_into_id:
            raise errors.TicketClosed(
                "ticket_merged",
                _("This ticket was merged into another one."),
                details={"merged_into": ticket_row.merged_into.number},
            )
        at = now_utc()
        if from_customer:
            kind = TicketMessage.Kind.CUSTOMER
        else:
            kind = TicketMessage.Kind.AGENT if public else TicketMessage.Kind.NOTE
        message = TicketMessage.objects.create(
            ticket=ticket_row,
            kind=kind,
            public=public,
            author=author if getattr(author, "is_authenticated", False) else None,
            channel=channel,
            source_ref=source_ref[:200],
            body=body,
            body_html=_clean_html(body_html),
            created_at=at,
        )
        _store_attachments(ticket_row, message, files)
        ticket_row.search_tokens = search.append_tokens(ticket_row.search_tokens, body)
        ticket_row.updated_at = at
        if kind == TicketMessage.Kind.CUSTOMER:
            _on_customer_message(ticket_row, at=at)
        elif kind == TicketMessage.Kind.AGENT:
            ticket_row.last_agent_reply_at = at
            sla.on_agent_reply(ticket_row, at=at)
            if (
                ticket_row.is_complaint
                and ticket_row.complaint_first_contact_at is None
                and has_role(author, SENIOR_MANAGER)
            ):
                ticket_row.complaint_first_contact_at = at
            if ticket_row.assignee_id is None and is_staff_member(author):
                ticket_row.assignee = author
            target = set_status or (
                Status.PENDING if ticket_row.status in (Status.NEW, Status.OPEN) else None
            )
            if target:
                _set_status(ticket_row, target, at=at)
        elif set_status:
            _set_status(ticket_row, set_status, at=at)
        if ticket_row.status == Status.NEW and kind != TicketMessage.Kind.CUSTOMER:
            _set_status(ticket_row, Status.OPEN, at=at)
        ticket_row.save()
        if is_staff_member(author):
            audit_log_write(
                actor=author,
                action="ticket.reply" if public else "ticket.note",
                obj=ticket_row,
                request=request,
                details={"message": message.pk},
            )
        if public and kind == TicketMessage.Kind.AGENT:
            _after_commit(_public_reply_side_effects, ticket_row.pk, message.pk)
        _emit("ticket.message", ticket_row)
    ticket.refresh_from_db()
    return message


def _on_customer_message(ticket_row: Ticket, *, at: datetime, policies=None) -> None:
    """The customer wrote again: a solved, pending or on-hold ticket reopens and the
    next-response clock starts (not saved)."""
    old_status = ticket_row.status
    ticket_row.last_customer_message_at = at
    if old_status in (Status.SOLVED, Status.PENDING, Status.ON_HOLD):
        _set_status(ticket_row, Status.OPEN, at=at)
        if old_status == Status.SOLVED:
            _event(ticket_row, "reopened", at=at)
    sla.on_customer_message(ticket_row, at=at, policies=policies)


def _public_reply_side_effects(ticket_id: int, message_id: int) -> None:
    from okwallet.core.hooks import collect
    from okwallet.core.notify import notification_send

    ticket = Ticket.objects.select_related("customer", "queue").get(pk=ticket_id)
    message = TicketMessage.objects.get(pk=message_id)
    collect("on_ticket_public_reply", ticket, message)
    if ticket.customer_id and ticket.channel in (Channel.WEB, Channel.API):
        with transaction.atomic():
            notification_send(
                channel="inapp",
                kind="ticket_reply",
                user=ticket.customer,
                subject=_("New reply on %(number)s") % {"number": ticket.number},
                body=_("Customer service replied to your request %(number)s: %(subject)s")
                % {"number": ticket.number, "subject": ticket.subject},
            )


TRANSITIONS = {
    Status.NEW: {Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED},
    Status.OPEN: {Status.PENDING, Status.ON_HOLD, Status.SOLVED, Status.CLOSED},
    Status.PENDING: {Status.OPEN, Status.ON_HOLD, Status.SOLVED, Status.CLOSED},
    Status.ON_HOLD: {Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED},
    Status.SOLVED: {Status.OPEN, Status.CLOSED},
    Status.CLOSED: set(),
}


def _set_status(ticket: Ticket, status: str, *, at: datetime, actor=None) -> None:
    old = ticket.status
    if status == old:
        return
    if status not in TRANSITIONS.get(old, set()):
        raise errors.InvalidTransition(details={"from": old, "to": status})
    ticket.status = status
    if status == Status.PENDING:
        sla.pause(ticket, at=at)
    elif old == Status.PENDING:
        sla.resume(ticket, at=at)
    if status == Status.SOLVED:
        ticket.solved_at = at
        sla.stop(ticket)
    elif status == Status.CLOSED:
        ticket.closed_at = at
        ticket.solved_at = ticket.solved_at or at
        sla.stop(ticket)
    elif old in (Status.SOLVED,) and status == Status.OPEN:
        ticket.solved_at = None
        sla.on_customer_message(ticket, at=at)
    _event(ticket, "status", actor=actor, at=at, **{"from": old, "to": status})


def ticket_set_status(*, ticket: Ticket, status: str, actor, request=None) -> Ticket:
    if status not in Status.values:
        raise InvalidInput("invalid_status", _("Unknown status."))
    with transaction.atomic():
        row = _lock(ticket)
        at = now_utc()
        if row.is_complaint and status in (Status.SOLVED, Status.CLOSED) and not row.outcome_recorded_at:
            raise errors.InvalidTransition(
                "complaint_outcome_missing",
                _("Record the outcome of the complaint before solving it."),
            )
        _set_status(row, status, at=at, actor=actor)
        row.updated_at = at
        row.save()
        audit_log_write(
            actor=actor, action="ticket.status", obj=row, request=request, details={"status": status}
        )
        _emit("ticket.updated", row)
        if status == Status.SOLVED:
            _after_commit(_send_csat_invitation, row.pk)
    return row


def _send_csat_invitation(ticket_id: int) -> None:
    from django.conf import settings

    from okwallet.core.notify import notification_send
    from okwallet.helpdesk.selectors import csat_url

    ticket = Ticket.objects.select_related("customer").get(pk=ticket_id)
    base = getattr(settings, "OKWALLET_PUBLIC_URL", "").rstrip("/")
    link = base + csat_url(ticket)
    text = _("Your request %(number)s was solved. How did we do? Rate us here: %(link)s") % {
        "number": ticket.number,
        "link": link,
    }
    with transaction.atomic():
        if ticket.customer_id:
            notification_send(
                channel="inapp",
                kind="ticket_csat",
                user=ticket.customer,
                body=text,
                subject=_("How did we do?"),
            )
        elif ticket.requester_email:
            notification_send(
                channel="email",
                kind="ticket_csat",
                to=ticket.requester_email,
                body=text,
                subject=_("How did we do? (%(number)s)") % {"number": ticket.number},
            )


def ticket_update(*, ticket: Ticket, actor, priority=None, category=None, tags=None, request=None) -> Ticket:
    """Change priority, category (re-routes to the category's queue) or tags."""
    with transaction.atomic():
        row = _lock(ticket)
        changes = {}
        if priority is not None and int(priority) != row.priority:
            if int(priority) not in Priority.values:
                raise InvalidInput("invalid_priority", _("Unknown priority."))
            changes["priority"] = [row.priority, int(priority)]
            row.priority = int(priority)
        if category is not None and category != row.category:
            if category not in Category.values:
                raise errors.InvalidCategory(details={"category": category})
            changes["category"] = [row.category, category]
            row.category = category
            new_queue = queue_for_category(category)
            if new_queue.pk != row.queue_id:
                row.queue = new_queue
                row.assignee = None
        if tags is not None:
            clean = sorted({t.strip()[:40] for t in tags if t and t.strip()})
            if clean != row.tags:
                changes["tags"] = [row.tags, clean]
                row.tags = clean
        if not changes:
            return row
        row.updated_at = now_utc()
        row.save()
        _event(row, "updated", actor=actor, **changes)
        audit_log_write(actor=actor, action="ticket.update", obj=row, request=request, details=changes)
        _emit("ticket.updated", row)
    return row


def ticket_link(*, ticket: Ticket, actor, other: Ticket | None = None, reference: str = "") -> TicketLink:
    """Link a ticket to another ticket or to a transaction reference (checked when payments exists)."""
    if other is None and not reference:
        raise InvalidInput("link_target_missing", _("Name a ticket or a transaction."))
    if other is not None:
        if other.pk == ticket.pk:
            raise InvalidInput("link_self", _("A ticket cannot be linked to itself."))
        link, _c = TicketLink.objects.get_or_create(
            ticket=ticket, kind=TicketLink.Kind.RELATED, other=other, reference=""
        )
        TicketLink.objects.get_or_create(
            ticket=other, kind=TicketLink.Kind.RELATED, other=ticket, reference=""
        )
    else:
        from okwallet.helpdesk.selectors import transaction_lookup

        txn = transaction_lookup(reference)
        if txn is False:
            raise NotFound("transaction_not_found", _("No transaction has this reference."))
        link, _c = TicketLink.objects.get_or_create(
            ticket=ticket, kind=TicketLink.Kind.TRANSACTION, other=None, reference=reference.strip()[:64]
        )
    _event(ticket, "linked", actor=actor, other=other.number if other else "", reference=reference)
    return link


def ticket_merge(*, source: Ticket, target: Ticket, actor, request=None) -> Ticket:
    """Merge ``source`` into ``target``: messages and attachments move, source is closed and points
    at target. Both rows are locked in id order."""
    if source.pk == target.pk:
        raise InvalidInput("merge_self", _("A ticket cannot be merged into itself."))
    with transaction.atomic():
        rows = {
            t.pk: t
            for t in Ticket.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")
        }
        src, dst = rows[source.pk], rows[target.pk]
        if dst.status == Status.CLOSED:
            raise errors.TicketClosed(details={"number": dst.number})
        if src.customer_id and dst.customer_id and src.customer_id != dst.customer_id:
            raise InvalidInput("merge_other_customer", _("Tickets of different customers cannot be merged."))
        at = now_utc()
        TicketMessage.objects.filter(ticket=src).update(ticket=dst)
        Attachment.objects.filter(ticket=src).update(ticket=dst)
        TicketMessage.objects.create(
            ticket=dst,
            kind=TicketMessage.Kind.SYSTEM,
            public=False,
            author=actor,
            body=f"merged {src.number}",
            created_at=at,
        )
        dst.search_tokens = search.append_tokens(dst.search_tokens, src.subject)
        dst.tags = sorted(set(dst.tags) | set(src.tags))
        dst.updated_at = at
        dst.save()
        src.merged_into = dst
        if src.status != Status.CLOSED:
            src.status = Status.CLOSED
            src.closed_at = at
        sla.stop(src)
        src.updated_at = at
        src.save()
        TicketLink.objects.get_or_create(ticket=dst, kind=TicketLink.Kind.MERGED, other=src, reference="")
        _event(dst, "merged", actor=actor, at=at, source=src.number)
        _event(src, "merged_into", actor=actor, at=at, target=dst.number)
        audit_log_write(
            actor=actor, action="ticket.merge", obj=dst, request=request, details={"source": src.number}
        )
        _emit("ticket.updated", dst)
    return dst


def presence_set(
    *, user, status: str, chat_capacity: int | None = None, ticket_capacity: int | None = None
) -> AgentPresence:
    if status not in AgentPresence.State.values:
        raise InvalidInput("invalid_presence", _("Unknown presence status."))
    presence, _c = AgentPresence.objects.get_or_create(user=user)
    presence.status = status
    if chat_capacity is not None:
        presence.chat_capacity = max(0, int(chat_capacity))
    if ticket_capacity is not None:
        presence.ticket_capacity = max(0, int(ticket_capacity))
    presence.save()
    return presence


def macro_render(*, macro, ticket: Ticket, agent=None) -> str:
    """Fill a macro's variables by plain substitution (user text is never a template)."""
    from okwallet.core.timeutil import format_local

    due = sla.next_due(ticket)
    values = {
        "{customer_name}": ticket.requester_label or _("customer"),
        "{ticket_number}": ticket.number,
        "{reply_deadline}": format_local(due) if due else "",
        "{agent_name}": (getattr(agent, "display_name", "") or str(agent or "")),
    }
    text = macro.body
    for key, value in values.items():
        text = text.replace(key, str(value))
    return text


def csat_submit(*, ticket: Ticket, score: int, comment: str = ""):
    from okwallet.helpdesk.models import CsatResponse

    score = int(score)
    if not 1 <= score <= 5:
        raise InvalidInput("csat_score", _("Please choose 1 to 5 stars."))
    if ticket.status not in (Status.SOLVED, Status.CLOSED):
        raise errors.InvalidTransition("csat_not_solved", _("You can rate a request once it is solved."))
    with transaction.atomic():
        row, _c = CsatResponse.objects.update_or_create(
            ticket=ticket, defaults={"score": score, "comment": (comment or "").strip()[:2000]}
        )
        _event(ticket, "csat", score=score)
        _emit("ticket.rated", ticket)
    return row


def open_ticket_statuses() -> tuple[str, ...]:
    return tuple(OPEN_STATUSES)
