"""Outgoing webhooks: ``ticket.created``, ``ticket.updated``, ``ticket.message``, ``ticket.rated``,
``ticket.sla_breached``. Each delivery is a row written in the ticket's transaction, sent after
commit, signed ``X-OkWallet-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` and retried
with backoff (1 min .. 6 h, 8 attempts)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request
from datetime import timedelta

from django.db import transaction

from okwallet.core.bulk import insert_rows
from okwallet.core.timeutil import now_utc
from okwallet.helpdesk.models import Ticket, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)
BACKOFF_SECONDS = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 6 * 3600]
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


def ticket_payload(ticket: Ticket) -> dict:
    return {
        "number": ticket.number,
        "status": ticket.status,
        "category": ticket.category,
        "priority": ticket.priority,
        "queue": ticket.queue.code if ticket.queue_id else None,
        "channel": ticket.channel,
        "assignee": ticket.assignee.username if ticket.assignee_id else None,
        "customer_id": ticket.customer.public_id if ticket.customer_id else None,
        "updated_at": ticket.updated_at.isoformat() if ticket.updated_at else None,
    }


def webhook_emit(*, event: str, ticket: Ticket) -> list[WebhookDelivery]:
    return webhook_emit_many(event=event, tickets=[ticket])


def webhook_emit_many(*, event: str, tickets: list[Ticket]) -> list[WebhookDelivery]:
    """One delivery per (ticket, subscribed endpoint), written with the tickets' transaction and
    sent after commit."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if not e.events or event in e.events]
    if not endpoints or not tickets:
        return []
    at = now_utc()
    rows = [
        WebhookDelivery(
            endpoint=e,
            event=event,
            payload={"event": event, "ticket": ticket_payload(ticket), "sent_at": at.isoformat()},
            next_attempt_at=at,
        )
        for ticket in tickets
        for e in endpoints
    ]
    insert_rows(WebhookDelivery, rows, set_pk=True)
    from okwallet.helpdesk.tasks import deliver_webhook

    for row in rows:
        transaction.on_commit(lambda pk=row.pk: deliver_webhook(pk))
    return rows


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def webhook_deliver(delivery_id: int, *, timeout: float = 10.0) -> WebhookDelivery | None:
    """One attempt. The row is locked so two workers never send the same delivery at once."""
    with transaction.atomic():
        row = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if row is None or row.status != WebhookDelivery.State.QUEUED:
            return row
        body = json.dumps(row.payload, ensure_ascii=False, sort_keys=True).encode()
        if not row.endpoint.url.startswith(("https://", "http://")):
            row.status = WebhookDelivery.State.FAILED
            row.last_error = "only http(s) URLs are allowed"
            row.save()
            return row
        request = urllib.request.Request(  # noqa: S310  # nosec B310 - scheme checked above
            row.endpoint.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-OkWallet-Event": row.event,
                "X-OkWallet-Delivery": str(row.pk),
                "X-OkWallet-Signature": sign(row.endpoint.secret, body, int(time.time())),
            },
        )
        row.attempts += 1
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310 - scheme checked above
                if response.status >= 300:
                    raise OSError(f"HTTP {response.status}")
        except Exception as exc:  # network and HTTP errors alike: record, back off, retry
            row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = WebhookDelivery.State.FAILED
            else:
                row.next_attempt_at = now_utc() + timedelta(seconds=BACKOFF_SECONDS[row.attempts - 1])
            log.warning("webhook %s attempt %s failed: %s", row.pk, row.attempts, exc)
        else:
            row.status = WebhookDelivery.State.SENT
            row.last_error = ""
        row.save()
    return row


def webhooks_retry_due(*, limit: int = 200) -> int:
    ids = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.State.QUEUED, next_attempt_at__lte=now_utc())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        webhook_deliver(pk)
    return len(ids)
