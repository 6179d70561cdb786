"""Outbound mail: acknowledgements and agent replies through an outbox with retries.

Rows are written in the caller's transaction and sent after commit through Django's email
backend (SMTP in production) with our own Message-ID, In-Reply-To, References and the ticket
tag in the subject, so the customer's answer threads back to the ticket. A failed send is
retried with back-off; after ``MAX_ATTEMPTS`` the row is ``failed`` and shown in the console.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q

from okwallet.core.timeutil import now_utc
from okwallet.mail import conf
from okwallet.mail.classify import subject_with_tag
from okwallet.mail.html import sanitize_html
from okwallet.mail.models import AddressState, OutboundMessage, RawMessage
from okwallet.mail.parsing import clean_header_text

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# Minutes to wait after the 1st, 2nd, ... failure.
BACKOFF_MINUTES = (1, 5, 15, 60, 240)


def new_message_id(ticket_number: str = "") -> str:
    """Our Message-ID (without brackets); unguessable, so only recipients can thread by it."""
    local = secrets.token_hex(12)
    if ticket_number:
        local = f"{ticket_number.lower()}.{local}"
    return f"{local}@{conf.message_id_domain()}"


def _bracket(mid: str) -> str:
    return f"<{mid}>"


def thread_ids(ticket_number: str) -> tuple[list[str], str]:
    """(References, In-Reply-To) for a new message on a ticket: every Message-ID of the thread
    in time order (first and newest kept when long), and the customer's latest message."""
    inbound = list(
        RawMessage.objects.filter(ticket_number=ticket_number)
        .exclude(message_id="")
        .order_by("received_at", "pk")
        .values_list("received_at", "message_id", "status")
    )
    outbound = list(
        OutboundMessage.objects.filter(ticket_number=ticket_number)
        .order_by("created_at", "pk")
        .values_list("created_at", "message_id", "status")
    )
    in_reply_to = next(
        (mid for _at, mid, status in reversed(inbound) if status == RawMessage.Status.PROCESSED), ""
    )
    ordered = [mid for _at, mid, _s in sorted(inbound + outbound, key=lambda r: r[0])]
    seen: dict[str, None] = {}
    for mid in ordered:
        seen.setdefault(mid, None)
    refs = list(seen)
    if len(refs) > 20:
        refs = refs[:1] + refs[-19:]
    return refs, in_reply_to


def _recipient(ticket) -> str:
    email = (getattr(ticket, "requester_email", "") or "").strip()
    if not email:
        customer = getattr(ticket, "customer", None)
        email = (getattr(customer, "email", "") or "").strip()
    return email.lower()


def mail_send_ticket_reply(*, ticket, message) -> OutboundMessage | None:
    """Queue a public agent reply as an email to the ticket's requester (idempotent per message).

    Returns None when the ticket has nobody to write to."""
    to = _recipient(ticket)
    if not to or "@" not in to:
        return None
    source_ref = f"reply:{message.pk}"
    existing = OutboundMessage.objects.filter(source_ref=source_ref).first()
    if existing is not None:
        return existing
    number = ticket.number
    refs, in_reply_to = thread_ids(number)
    body = (getattr(message, "body", "") or "").strip()
    footer = (
        "\n\n--\n"
        "回复此邮件即可继续沟通，请保留主题中的工单编号。\n"
        "Reply to this email to continue; please keep the ticket number in the subject.\n"
        "OK钱包客服 · OK Wallet Customer Service"
    )
    html = getattr(message, "body_html", "") or ""
    row = OutboundMessage.objects.create(
        kind=OutboundMessage.Kind.REPLY,
        source_ref=source_ref,
        message_id=new_message_id(number),
        ticket_number=number,
        to_addr=to,
        from_addr=conf.from_header(),
        subject=subject_with_tag(getattr(ticket, "subject", "") or "", number, reply=True),
        body_text=body + footer,
        body_html=sanitize_html(html) if html else "",
        in_reply_to=in_reply_to,
        references=refs,
        next_attempt_at=now_utc(),
    )
    pk = row.pk
    transaction.on_commit(lambda: _schedule([pk]))
    return row


def _schedule(ids: list[int]) -> None:
    from okwallet.mail.tasks import deliver_outbound_batch

    deliver_outbound_batch(ids)


def _email_for(row: OutboundMessage, connection) -> EmailMultiAlternatives:
    headers = {"Message-ID": _bracket(row.message_id), "X-OKWallet-Ticket": row.ticket_number}
    if row.in_reply_to:
        headers["In-Reply-To"] = _bracket(row.in_reply_to)
    if row.references:
        headers["References"] = " ".join(_bracket(m) for m in row.references)
    if row.kind == OutboundMessage.Kind.ACK:
        # RFC 3834: mark ours as automatic so well-behaved robots do not answer it.
        headers["Auto-Submitted"] = "auto-replied"
        headers["X-Auto-Response-Suppress"] = "All"
        headers["Precedence"] = "auto_reply"
    message = EmailMultiAlternatives(
        subject=clean_header_text(row.subject),
        body=row.body_text,
        from_email=row.from_addr,
        to=[row.to_addr],
        headers=headers,
        connection=connection,
    )
    if row.body_html:
        message.attach_alternative(row.body_html, "text/html")
    for filename, content, content_type in _reply_attachments(row):
        message.attach(filename, content, content_type)
    return message


MAX_OUTBOUND_ATTACHMENT_BYTES = 10 * 1024 * 1024


def _reply_attachments(row: OutboundMessage) -> list[tuple[str, bytes, str]]:
    """The files the agent attached to the ticket message this reply carries (helpdesk's
    ``Attachment`` rows), up to 10 MB together."""
    if row.kind != OutboundMessage.Kind.REPLY or not row.source_ref.startswith("reply:"):
        return []
    message_pk = row.source_ref.split(":", 1)[1]
    if not message_pk.isdigit():
        return []
    try:
        from okwallet.helpdesk.models import Attachment
    except ImportError:
        return []
    found, total = [], 0
    for att in Attachment.objects.filter(message_id=int(message_pk)).order_by("pk"):
        if total + att.size > MAX_OUTBOUND_ATTACHMENT_BYTES:
            log.warning("outbound mail %s: attachment %s left out (size limit)", row.pk, att.filename)
            continue
        try:
            with att.file.open("rb") as handle:
                content = handle.read()
        except (OSError, ValueError):
            log.warning("outbound mail %s: attachment %s is missing", row.pk, att.filename)
            continue
        total += len(content)
        found.append((att.filename, content, att.content_type or "application/octet-stream"))
    return found


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception as exc:  # noqa: BLE001 - a broken connection is reopened on the next send
        log.debug("closing the mail connection failed: %s", exc)


# While one worker sends a row, it is leased: others skip it until the lease ends.
SEND_LEASE = timedelta(minutes=10)


def _claim(pk: int) -> OutboundMessage | None:
    """Take a due, queued row for sending (one UPDATE, so two workers never both get it)."""
    now = now_utc()
    claimed = (
        OutboundMessage.objects.filter(pk=pk, status=OutboundMessage.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + SEND_LEASE, attempts=F("attempts") + 1)
    )
    return OutboundMessage.objects.filter(pk=pk).first() if claimed else None


def outbound_deliver(*, ids: Sequence[int], connection=None) -> dict[str, int]:
    """Send the due, queued rows among ``ids`` over one backend connection.

    No transaction is held while the mail server talks (on SQLite that would stop every
    writer): a row is claimed with a lease, sent, then its outcome recorded. A worker that dies
    mid-send leaves the lease to expire and the row is sent again (at least once; the same
    Message-ID lets mail clients drop a duplicate)."""
    counts = {"sent": 0, "failed": 0, "retry": 0, "suppressed": 0}
    own_connection = connection is None
    connection = connection or get_connection()
    try:
        for pk in sorted(ids):
            row = _claim(pk)
            if row is None:
                continue
            update: dict = {}
            if (
                row.kind == OutboundMessage.Kind.ACK
                and AddressState.objects.filter(address=row.to_addr, bouncing=True).exists()
            ):
                update = {
                    "status": OutboundMessage.Status.SUPPRESSED,
                    "next_attempt_at": None,
                    "last_error": "the address is bouncing; no acknowledgement sent",
                }
                counts["suppressed"] += 1
            else:
                try:
                    sent = _email_for(row, connection).send(fail_silently=False)
                    if not sent:
                        raise RuntimeError("the email backend accepted no message")
                except Exception as exc:  # noqa: BLE001 - the mail server is outside our control
                    update["last_error"] = f"{type(exc).__name__}: {exc}"[:2000]
                    if row.attempts >= MAX_ATTEMPTS:
                        update.update(status=OutboundMessage.Status.FAILED, next_attempt_at=None)
                        counts["failed"] += 1
                    else:
                        wait = BACKOFF_MINUTES[min(row.attempts, len(BACKOFF_MINUTES)) - 1]
                        update["next_attempt_at"] = now_utc() + timedelta(minutes=wait)
                        counts["retry"] += 1
                    log.warning("outbound mail %s failed (attempt %s): %s", pk, row.attempts, exc)
                    _close_quietly(connection)
                else:
                    update = {
                        "status": OutboundMessage.Status.SENT,
                        "sent_at": now_utc(),
                        "next_attempt_at": None,
                        "last_error": "",
                    }
                    counts["sent"] += 1
            OutboundMessage.objects.filter(pk=pk).update(**update)
    finally:
        if own_connection:
            _close_quietly(connection)
    return counts


def outbound_due_ids(*, limit: int = 500) -> list[int]:
    return list(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.QUEUED, next_attempt_at__lte=now_utc())
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def outbound_retry(*, outbound: OutboundMessage, actor, request=None) -> OutboundMessage:
    """An agent sends a failed (or suppressed) message again: back in the queue, audited."""
    from okwallet.core.audit import audit_log_write

    with transaction.atomic():
        row = OutboundMessage.objects.select_for_update().get(pk=outbound.pk)
        if row.status == OutboundMessage.Status.SENT:
            return row
        row.status = OutboundMessage.Status.QUEUED
        row.attempts = 0
        row.next_attempt_at = now_utc()
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_log_write(
            actor=actor,
            action="mail.outbound_retry",
            obj=row,
            request=request,
            details={"ticket": row.ticket_number, "kind": row.kind},
        )
        pk = row.pk
        transaction.on_commit(lambda: _schedule([pk]))
    return row
