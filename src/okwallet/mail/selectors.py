"""Reads of the email channel for the console."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from okwallet.mail.models import OutboundMessage, RawMessage

ATTENTION = (RawMessage.Status.FLAGGED, RawMessage.Status.FAILED)


def inbound_messages(*, status: str = "attention", q: str = "") -> QuerySet[RawMessage]:
    qs = RawMessage.objects.defer("raw", "html_sanitized", "text").order_by("-received_at", "-id")
    if status == "attention":
        qs = qs.filter(status__in=ATTENTION)
    elif status in RawMessage.Status.values:
        qs = qs.filter(status=status)
    q = (q or "").strip()
    if q:
        qs = qs.filter(
            Q(from_addr__icontains=q)
            | Q(subject__icontains=q)
            | Q(ticket_number__iexact=q)
            | Q(message_id__iexact=q.strip("<>"))
        )
    return qs


def outbound_messages(*, status: str = "attention", q: str = "") -> QuerySet[OutboundMessage]:
    qs = OutboundMessage.objects.defer("body_html").order_by("-created_at", "-id")
    if status == "attention":
        qs = qs.filter(status__in=(OutboundMessage.Status.FAILED, OutboundMessage.Status.QUEUED))
    elif status in OutboundMessage.Status.values:
        qs = qs.filter(status=status)
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(to_addr__icontains=q) | Q(subject__icontains=q) | Q(ticket_number__iexact=q))
    return qs


def attention_counts() -> dict[str, int]:
    return {
        "inbound": RawMessage.objects.filter(status__in=ATTENTION).count(),
        "outbound_failed": OutboundMessage.objects.filter(status=OutboundMessage.Status.FAILED).count(),
    }
