"""Inbound mail: store raw → parse → classify → thread → ticket, in batches.

Phase 1 (``mail_store_raw``) writes the raw bytes, keyed by Message-ID (or the sha256 of the
bytes when there is none), in one short transaction and before any MIME parsing, so whatever
happens next nothing is lost; the IMAP poller saves its UID state in the same transaction.
Phase 2 (``mail_process``) parses, classifies, threads and creates tickets for every row still
``received``: one transaction for the whole batch, and when anything in it fails, again one
transaction per message so one bad message never stops the rest (the bad one is kept and marked
``failed`` with the reason). Re-running either phase is harmless: rows are unique by key and
only ``received`` rows are processed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import Upper

from okwallet.core.bulk import insert_rows, update_rows
from okwallet.core.timeutil import now_utc
from okwallet.mail import conf
from okwallet.mail.ack import language_for, render_ack
from okwallet.mail.classify import (
    BOUNCE,
    DSN,
    NORMAL,
    classify,
    strip_subject_prefixes,
    subject_with_tag,
    ticket_number_from_subject,
)
from okwallet.mail.models import AddressState, MailAttachment, MailboxState, OutboundMessage, RawMessage
from okwallet.mail.parsing import ParsedMessage, normalise_message_id, parse_message
from okwallet.mail.quotes import strip_quotes_and_signature
from okwallet.mail.tickets import TicketGateway, TicketRef, helpdesk_attachments

log = logging.getLogger(__name__)

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID_HEADER = re.compile(rb"(?im)^message-id[ \t]*:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)")
_IN_CHUNK = 500


@dataclass(frozen=True)
class InboundItem:
    raw: bytes
    envelope_from: str = ""
    envelope_to: Sequence[str] = ()


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    processed: int = 0
    flagged: int = 0
    ignored: int = 0
    failed: int = 0
    tickets_created: int = 0
    replies_threaded: int = 0
    acks_queued: int = 0
    rows: list[RawMessage] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        for name in (
            "stored",
            "duplicates",
            "processed",
            "flagged",
            "ignored",
            "failed",
            "tickets_created",
            "replies_threaded",
            "acks_queued",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rows.extend(other.rows)


def quick_message_id(raw: bytes) -> str | None:
    """The first Message-ID header, read from the header block without a MIME parse."""
    match = _HEADER_END.search(raw, 0, 512 * 1024)
    head = raw[: match.start()] if match else raw[: 512 * 1024]
    found = _MESSAGE_ID_HEADER.search(head)
    if found is None:
        return None
    return normalise_message_id(found.group(1).decode("ascii", "replace"))


def idempotency_key(raw: bytes, sha256: str | None = None) -> tuple[str, str]:
    """(key, message id) — ``mid:<id>``, or ``sha256:<hash>`` when the message has no Message-ID."""
    mid = quick_message_id(raw)
    if mid:
        if len(mid) <= 240:
            return "mid:" + mid, mid
        return "midh:" + hashlib.sha256(mid.encode("utf-8", "replace")).hexdigest(), mid
    return "sha256:" + (sha256 or hashlib.sha256(raw).hexdigest()), ""


def _chunks(values: Sequence, size: int = _IN_CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --------------------------------------------------------------------------
# Phase 1


def mail_store_raw(
    *,
    items: Sequence[InboundItem],
    source: str,
    source_detail: str = "",
    mailbox_state: tuple[str, int | None, int] | None = None,
    keep: dict[int, RawMessage] | None = None,
) -> tuple[list[int], int]:
    """Store raw messages (one transaction); returns (ids of rows to process, duplicates).

    ``mailbox_state`` = (mailbox, uidvalidity, last_uid) is saved in the same transaction, so the
    poller's position never runs ahead of what is stored. ``keep`` (a dict) receives the new
    rows by id, for ``mail_process(rows=...)``."""
    now = now_utc()
    rows: dict[str, RawMessage] = {}
    for item in items:
        raw = bytes(item.raw)
        sha = hashlib.sha256(raw).hexdigest()
        key, mid = idempotency_key(raw, sha)
        if key in rows:
            continue
        rows[key] = RawMessage(
            idempotency_key=key,
            message_id=mid[:998],
            sha256=sha,
            raw=raw,
            size=len(raw),
            source=source,
            source_detail=source_detail[:200],
            envelope_from=(item.envelope_from or "")[:320],
            envelope_to=",".join(item.envelope_to)[:1000],
            received_at=now,
        )
    keys = list(rows)
    with transaction.atomic():
        existing: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(keys):
            for pk, key, status in RawMessage.objects.filter(idempotency_key__in=chunk).values_list(
                "pk", "idempotency_key", "status"
            ):
                existing[key] = (pk, status)
        fresh = [k for k in keys if k not in existing]
        # ON CONFLICT DO NOTHING: a concurrent receiver may have stored the same message meanwhile;
        # RETURNING says which rows are ours to process.
        inserted = insert_rows(
            RawMessage,
            [rows[k] for k in fresh],
            ignore_conflicts=True,
            returning=("idempotency_key", "id"),
        )
        if mailbox_state is not None:
            name, uidvalidity, last_uid = mailbox_state
            MailboxState.objects.update_or_create(
                mailbox=name[:300],
                defaults={"uidvalidity": uidvalidity, "last_uid": last_uid, "last_polled_at": now},
            )
        if inserted is not None:
            ids = dict(inserted)
        else:  # no RETURNING on this database
            ids = dict(
                pk_key
                for chunk in _chunks(fresh)
                for pk_key in RawMessage.objects.filter(idempotency_key__in=chunk).values_list(
                    "idempotency_key", "pk"
                )
            )
    todo = [ids[k] for k in fresh if k in ids]
    if keep is not None:
        alias = connection.alias
        for key in fresh:
            if key in ids:
                row = rows[key]
                row.pk, row._state.adding, row._state.db = ids[key], False, alias
                keep[row.pk] = row
    # A row stored earlier but never processed (a crash between the phases) is picked up again.
    todo += [pk for pk, status in existing.values() if status == RawMessage.Status.RECEIVED]
    duplicates = (len(items) - len(keys)) + sum(
        1 for _pk, status in existing.values() if status != RawMessage.Status.RECEIVED
    )
    # Stored by a concurrent receiver between our lookup and insert: it processes them.
    duplicates += sum(1 for k in fresh if k not in ids)
    return todo, duplicates


# --------------------------------------------------------------------------
# Phase 2


@dataclass(frozen=True)
class _Conf:
    """The channel's settings, read once per ``mail_process`` call rather than per message."""

    our_addresses: frozenset[str]
    max_attachment_bytes: int
    max_total_bytes: int
    sender_limit: tuple[int, int]
    ack_working_days: int
    from_header: str

    @classmethod
    def read(cls) -> _Conf:
        return cls(
            our_addresses=frozenset(conf.our_addresses()),
            max_attachment_bytes=conf.max_attachment_bytes(),
            max_total_bytes=conf.max_total_bytes(),
            sender_limit=conf.sender_limit(),
            ack_working_days=conf.ack_working_days(),
            from_header=conf.from_header(),
        )


@dataclass
class _Work:
    row: RawMessage
    parsed: ParsedMessage
    kind: str = NORMAL
    reason: str = ""
    failed_recipients: tuple[str, ...] = ()
    pending_message: Any = None  # a reply written when the batch's new tickets are flushed


class _Batch:
    """Lookups for a whole batch, read with a handful of queries."""

    def __init__(self, works: list[_Work], *, cfg: _Conf, forced: bool = False) -> None:
        self.works = works
        self.cfg = cfg
        # An agent asked to file these as tickets: no rate limit, partial parses accepted.
        self.forced = forced
        self.gateway = TicketGateway(batched=True, expected=len(works))
        self.mid_to_ticket: dict[str, str] = {}
        self.customers: dict[str, object] = {}
        self.sender_counts: Counter[str] = Counter()
        self.recent_acks: set[str] = set()
        self.bouncing: set[str] = set()
        self.now = now_utc()

    def load(self) -> None:
        mids: set[str] = set()
        senders: set[str] = set()
        numbers: set[str] = set()
        for work in self.works:
            p = work.parsed
            if p.in_reply_to:
                mids.add(p.in_reply_to)
            mids.update(p.references[-50:])
            if p.report_message_id:
                mids.add(p.report_message_id)
            if p.from_addr:
                senders.add(p.from_addr)
            number = ticket_number_from_subject(p.subject)
            if number:
                numbers.add(number)
        mid_list = sorted(mids)
        for chunk in _chunks(mid_list):
            for mid, number in (
                RawMessage.objects.filter(message_id__in=chunk)
                .exclude(ticket_number="")
                .values_list("message_id", "ticket_number")
            ):
                self.mid_to_ticket.setdefault(mid, number)
            for mid, number in OutboundMessage.objects.filter(message_id__in=chunk).values_list(
                "message_id", "ticket_number"
            ):
                if number:
                    self.mid_to_ticket[mid] = number
        numbers.update(self.mid_to_ticket.values())
        self.gateway.prefetch(numbers)

        sender_list = sorted(senders)
        user_model = get_user_model()
        limit, window = self.cfg.sender_limit
        since = self.now - timedelta(seconds=window)
        for chunk in _chunks(sender_list):
            # UPPER(email) is what the accounts index covers (user_email_upper_idx): an index probe
            # per sender instead of a scan of the customers.
            users = (
                user_model.objects.annotate(email_upper=Upper("email"))
                .filter(
                    email_upper__in=[a.upper() for a in chunk],
                    email_verified=True,
                    is_staff=False,
                    is_active=True,
                )
                .order_by("pk")
            )
            for user in users:
                self.customers.setdefault(user.email.lower(), user)
            for addr, n in (
                RawMessage.objects.filter(from_addr__in=chunk, received_at__gte=since)
                .exclude(status=RawMessage.Status.RECEIVED)
                .values("from_addr")
                .annotate(n=Count("id"))
                .values_list("from_addr", "n")
            ):
                self.sender_counts[addr] = n
            self.recent_acks.update(
                OutboundMessage.objects.filter(
                    kind=OutboundMessage.Kind.ACK,
                    to_addr__in=chunk,
                    created_at__gte=self.now - timedelta(hours=1),
                ).values_list("to_addr", flat=True)
            )
            self.bouncing.update(
                AddressState.objects.filter(address__in=chunk, bouncing=True).values_list(
                    "address", flat=True
                )
            )


def _parse(row: RawMessage, cfg: _Conf) -> _Work:
    parsed = parse_message(
        bytes(row.raw),
        max_attachment_bytes=cfg.max_attachment_bytes,
        max_total_bytes=cfg.max_total_bytes,
    )
    work = _Work(row=row, parsed=parsed)
    if parsed.parse_error is None or parsed.headers:
        result = classify(parsed, our_addresses=cfg.our_addresses)
        work.kind, work.reason, work.failed_recipients = result.kind, result.reason, result.failed_recipients
    return work


def _no_nul(value):
    """PostgreSQL text and jsonb cannot hold NUL; mail bodies sometimes do."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


def _clean_parsed(p: ParsedMessage) -> None:
    p.text = _no_nul(p.text)
    p.html_sanitized = _no_nul(p.html_sanitized)
    p.subject = _no_nul(p.subject)
    p.from_name = _no_nul(p.from_name)
    p.notes = _no_nul(p.notes)
    for att in p.attachments:
        att.filename = _no_nul(att.filename)
        att.content_type = _no_nul(att.content_type)


def _fill_facts(row: RawMessage, p: ParsedMessage) -> None:
    _clean_parsed(p)
    row.from_addr = (p.from_addr or "")[:320]
    row.from_name = (p.from_name or "")[:200]
    row.subject = p.subject[:998]
    row.flags = list(p.flags)
    row.notes = list(p.notes)[:50]
    row.in_reply_to = (p.in_reply_to or "")[:998]
    row.references = p.references[-50:]
    row.html_sanitized = p.html_sanitized
    if not row.message_id and p.message_id:
        row.message_id = p.message_id[:998]


def _thread(batch: _Batch, work: _Work) -> tuple[TicketRef | None, str]:
    ref, how = _find_thread(batch, work)
    return ref, how


def _find_thread(batch: _Batch, work: _Work) -> tuple[TicketRef | None, str]:
    p = work.parsed
    if p.in_reply_to and p.in_reply_to in batch.mid_to_ticket:
        ref = batch.gateway.get(batch.mid_to_ticket[p.in_reply_to])
        if ref is not None:
            return ref, "in_reply_to"
    for mid in reversed(p.references):
        if mid in batch.mid_to_ticket:
            ref = batch.gateway.get(batch.mid_to_ticket[mid])
            if ref is not None:
                return ref, "references"
    number = ticket_number_from_subject(p.subject)
    if number:
        ref = batch.gateway.get(number)
        # Ticket numbers can be guessed; only the ticket's own requester may thread by the tag.
        if ref is not None and p.from_addr and p.from_addr in ref.requester_addresses:
            return ref, "subject_tag"
        if ref is not None:
            work.row.notes.append(f"subject names {number}, but the sender is not its requester: new ticket")
    return None, "new"


def _queue_ack(batch: _Batch, work: _Work, ref: TicketRef, customer) -> OutboundMessage | None:
    p = work.parsed
    to = p.reply_to or p.from_addr
    if not to or to in batch.recent_acks or to in batch.bouncing or to in batch.cfg.our_addresses:
        return None
    lang = language_for(customer=customer, subject=p.subject, text=work.row.text)
    name = getattr(customer, "display_name", "") or p.from_name
    title, body = render_ack(
        number=ref.number,
        name=name,
        lang=lang,
        received_at=work.row.received_at,
        days=batch.cfg.ack_working_days,
    )
    batch.recent_acks.add(to)
    from okwallet.mail.outbound import new_message_id

    refs = [*p.references[-20:], p.message_id] if p.message_id else p.references[-20:]
    return OutboundMessage(
        kind=OutboundMessage.Kind.ACK,
        source_ref=f"ack:{work.row.pk}",
        message_id=new_message_id(ref.number),
        ticket_number=ref.number,
        to_addr=to,
        from_addr=batch.cfg.from_header,
        subject=subject_with_tag(
            f"{title}: {strip_subject_prefixes(p.subject)}"[:300], ref.number, reply=True
        ),
        body_text=body,
        in_reply_to=p.message_id or "",
        references=[r for r in refs if r],
        next_attempt_at=batch.now,
    )


def _attachments_for(row: RawMessage, p: ParsedMessage) -> list[MailAttachment]:
    return [
        MailAttachment(
            message=row,
            filename=(a.filename or "attachment")[:255],
            content_type=(a.content_type or "application/octet-stream")[:150],
            size=a.size,
            sha256=a.sha256 or "",
            inline=a.inline,
            content_id=(a.content_id or "")[:255],
            content=a.content,
            skipped_reason=(a.skipped_reason or "")[:200],
        )
        for a in p.attachments
    ]


def _handle(batch: _Batch, work: _Work, result: IngestResult, outbox: list, attachments: list) -> None:
    row, p = work.row, work.parsed
    _fill_facts(row, p)
    row.kind = work.kind
    row.processed_at = batch.now
    attachments.extend(_attachments_for(row, p))
    sender = p.from_addr or ""

    if p.parse_error is not None and not batch.forced:
        row.status = RawMessage.Status.FLAGGED
        row.status_reason = f"could not be parsed: {p.parse_error}"[:500]
        row.text = p.text
        result.flagged += 1
        return
    row.text = strip_quotes_and_signature(p.text)

    if work.kind in (BOUNCE, DSN):
        for addr in work.failed_recipients:
            state, _ = AddressState.objects.get_or_create(address=addr[:320])
            state.bouncing = True
            state.bounce_count += 1
            state.last_bounce_at = batch.now
            state.last_bounce_reason = work.reason[:500]
            state.bounce_message = row
            state.save()
            batch.bouncing.add(addr)
        about = batch.mid_to_ticket.get(p.report_message_id or "")
        if about:
            row.ticket_number = about
            ref = batch.gateway.get(about)
            if ref is not None and work.failed_recipients:
                batch.gateway.add_message(
                    ref,
                    body=f"Email to {', '.join(work.failed_recipients)} could not be delivered ({work.reason}).",
                    body_html="",
                    author=None,
                    source_ref=row.idempotency_key,
                    public=False,
                )
        row.status = RawMessage.Status.IGNORED
        failed = ", ".join(work.failed_recipients) or "unknown recipient"
        row.status_reason = f"bounce ({work.reason}); marked bouncing: {failed}"[:500]
        result.ignored += 1
        return
    if work.kind != NORMAL and not batch.forced:
        row.status = RawMessage.Status.IGNORED
        row.status_reason = f"{work.kind}: {work.reason}; no ticket, no auto-reply"[:500]
        result.ignored += 1
        return
    if not sender:
        row.status = RawMessage.Status.FLAGGED
        row.status_reason = "no usable From address"
        result.flagged += 1
        return

    limit, window = batch.cfg.sender_limit
    batch.sender_counts[sender] += 1
    if batch.sender_counts[sender] > limit and not batch.forced:
        row.status = RawMessage.Status.FLAGGED
        row.status_reason = (
            f"rate limit: more than {limit} messages from this sender in {window // 60} minutes"
        )[:500]
        result.flagged += 1
        return

    customer = batch.customers.get(sender)
    row.customer = customer
    ref, how = _thread(batch, work)
    body = row.text or p.text or "(empty message)"
    files, left_out = helpdesk_attachments(p.attachments)
    if left_out:
        row.notes.append("kept with the email only: " + ", ".join(left_out)[:300])
    new_ticket = {
        "subject": strip_subject_prefixes(p.subject) or "(no subject)",
        "body": body,
        "body_html": p.html_sanitized,
        "customer": customer,
        "requester_email": sender,
        "requester_name": p.from_name,
        "source_ref": row.idempotency_key,
        "facts": {"message_id": p.message_id or "", "flags": list(p.flags)},
        "attachments": files,
    }
    if ref is None:
        ref = batch.gateway.create(**new_ticket)
        result.tickets_created += 1
        ack = _queue_ack(batch, work, ref, customer) if work.kind == NORMAL else None
        if ack is not None:
            outbox.append(ack)
            row.acknowledged = True
    else:
        ref, message_ref = batch.gateway.add_message(
            ref,
            body=body,
            body_html=p.html_sanitized,
            author=customer,
            source_ref=row.idempotency_key,
            attachments=files,
            follow_up=new_ticket,
        )
        if message_ref == "follow_up":
            how = "follow_up"
            result.tickets_created += 1
        else:
            if isinstance(message_ref, str):
                row.ticket_message_ref = message_ref[:60]
            else:  # a reply to a ticket opened earlier in this batch: its id comes at flush
                work.pending_message = message_ref
            result.replies_threaded += 1
    row.thread_by = how
    row.ticket_number = ref.number
    if p.message_id:
        batch.mid_to_ticket[p.message_id] = ref.number
    row.status = RawMessage.Status.PROCESSED
    row.status_reason = ""
    result.processed += 1


_UPDATE_FIELDS = [
    "status",
    "status_reason",
    "processed_at",
    "from_addr",
    "from_name",
    "subject",
    "kind",
    "flags",
    "notes",
    "in_reply_to",
    "references",
    "text",
    "html_sanitized",
    "thread_by",
    "ticket_number",
    "ticket_message_ref",
    "customer",
    "acknowledged",
    "message_id",
]


def _update_rows(rows: list[RawMessage]) -> None:
    update_rows(RawMessage, rows, _UPDATE_FIELDS, clean=_no_nul)


def _process_works(works: list[_Work], result: IngestResult, *, cfg: _Conf, forced: bool = False) -> None:
    batch = _Batch(works, cfg=cfg, forced=forced)
    batch.load()
    outbox: list[OutboundMessage] = []
    attachments: list[MailAttachment] = []
    for work in works:
        _handle(batch, work, result, outbox, attachments)
    batch.gateway.flush()
    for work in works:
        if work.pending_message is not None:
            work.row.ticket_message_ref = str(work.pending_message.pk)[:60]
    _update_rows([w.row for w in works])
    insert_rows(MailAttachment, attachments)
    insert_rows(OutboundMessage, outbox)
    result.acks_queued += len(outbox)
    if outbox:
        keys = [o.source_ref for o in outbox]
        transaction.on_commit(lambda: _deliver_after_commit(keys))
    result.rows.extend(w.row for w in works)


def _deliver_after_commit(source_refs: list[str]) -> None:
    from okwallet.mail.tasks import deliver_outbound_batch

    ids = list(OutboundMessage.objects.filter(source_ref__in=source_refs).values_list("pk", flat=True))
    if ids:
        deliver_outbound_batch(ids)


def _locked_received(ids: Sequence[int], known: Mapping[int, RawMessage] | None = None) -> list[RawMessage]:
    """The ``received`` rows among ``ids``, locked (skipping rows another process holds).
    ``known``: rows just stored by phase 1, used as they are instead of being read back."""
    qs = RawMessage.objects.filter(pk__in=ids, status=RawMessage.Status.RECEIVED).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    if not known:
        return list(qs)
    pks = list(qs.values_list("pk", flat=True))
    missing = [pk for pk in pks if pk not in known]
    loaded = {row.pk: row for row in RawMessage.objects.filter(pk__in=missing)} if missing else {}
    return [known.get(pk) or loaded[pk] for pk in pks if pk in known or pk in loaded]


def mail_process(
    *, ids: Sequence[int], forced: bool = False, rows: Mapping[int, RawMessage] | None = None
) -> IngestResult:
    """Parse, classify, thread and file every ``received`` row among ``ids`` (oldest first).

    ``forced`` (an agent's decision) files even partial parses and senders over the limit.
    ``rows``: the rows ``mail_store_raw`` just stored (its ``keep``), so they are not read back."""
    result = IngestResult()
    cfg = _Conf.read()
    ids = sorted(ids)
    for chunk in _chunks(ids, 200):
        try:
            with transaction.atomic():
                locked = _locked_received(chunk, rows)
                works = [_parse(row, cfg) for row in locked]
                _process_works(works, result_part := IngestResult(), cfg=cfg, forced=forced)
            result.add(result_part)
            continue
        except Exception:  # noqa: BLE001 - fall back to one transaction per message below
            log.exception("mail batch failed; processing its messages one by one")
        for pk in chunk:  # read back from the database: the batch may have changed the rows
            part = IngestResult()
            try:
                with transaction.atomic():
                    locked = _locked_received([pk])
                    if locked:
                        _process_works([_parse(locked[0], cfg)], part, cfg=cfg, forced=forced)
                result.add(part)
            except Exception as exc:  # noqa: BLE001 - keep the message, tell an agent
                log.exception("mail message %s failed", pk)
                RawMessage.objects.filter(pk=pk, status=RawMessage.Status.RECEIVED).update(
                    status=RawMessage.Status.FAILED,
                    status_reason=f"processing failed: {type(exc).__name__}: {exc}"[:500],
                    processed_at=now_utc(),
                )
                result.failed += 1
    return result


def mail_ingest(
    *,
    items: Sequence[InboundItem],
    source: str,
    source_detail: str = "",
    mailbox_state: tuple[str, int | None, int] | None = None,
) -> IngestResult:
    """Store then process a batch of inbound messages. Idempotent; never raises on bad mail."""
    stored: dict[int, RawMessage] = {}
    ids, duplicates = mail_store_raw(
        items=items, source=source, source_detail=source_detail, mailbox_state=mailbox_state, keep=stored
    )
    result = mail_process(ids=ids, rows=stored)
    result.stored = len(ids)
    result.duplicates = duplicates
    return result


def mail_message_refile(*, raw_message: RawMessage, actor, request=None) -> RawMessage:
    """An agent files a flagged, failed or ignored message as a ticket after all (audited)."""
    from okwallet.core.audit import audit_log_write

    with transaction.atomic():
        row = RawMessage.objects.select_for_update().get(pk=raw_message.pk)
        if row.status == RawMessage.Status.PROCESSED:
            return row
        previous = (row.status, row.status_reason)
        RawMessage.objects.filter(pk=row.pk).update(status=RawMessage.Status.RECEIVED, status_reason="")
        mail_process(ids=[row.pk], forced=True)
        row.refresh_from_db()
        audit_log_write(
            actor=actor,
            action="mail.message_refiled",
            obj=row,
            request=request,
            details={"was": previous[0], "reason": previous[1][:200], "ticket": row.ticket_number},
        )
    return row


def mail_ingest_raw(*, raw: bytes, source: str = "upload", **kwargs) -> RawMessage | None:
    """One message (the SMTP receiver, uploads, tests); returns its row."""
    item = InboundItem(
        raw=raw, envelope_from=kwargs.pop("envelope_from", ""), envelope_to=kwargs.pop("envelope_to", ())
    )
    mail_ingest(items=[item], source=source, **kwargs)
    key, _mid = idempotency_key(bytes(raw))
    return RawMessage.objects.filter(idempotency_key=key).first()


__all__ = [
    "InboundItem",
    "IngestResult",
    "idempotency_key",
    "mail_ingest",
    "mail_ingest_raw",
    "mail_process",
    "mail_store_raw",
]
