"""Hooks the helpdesk calls (docs/interfaces.md)."""

from __future__ import annotations


def _has_live_chat(ticket) -> bool:
    chat = getattr(ticket, "has_live_chat", None)
    if callable(chat):
        return bool(chat())
    return bool(chat)


def on_ticket_public_reply(ticket, message):
    """An agent's public reply: email it when the ticket came by email, or when it has a
    requester email and no live chat to post into."""
    from okwallet.mail.services import mail_send_ticket_reply

    channel = getattr(ticket, "channel", "")
    if channel != "email":
        has_address = bool(getattr(ticket, "requester_email", "") or "")
        if not has_address or channel == "chat" or _has_live_chat(ticket):
            return None
    row = mail_send_ticket_reply(ticket=ticket, message=message)
    return None if row is None else {"channel": "email", "outbound_id": row.pk, "to": row.to_addr}


def console_home_panels(request) -> list[dict]:
    """A card when inbound mail waits for an agent or an email could not be sent."""
    from django.template.loader import render_to_string
    from django.utils.translation import gettext as _

    from okwallet.mail.selectors import attention_counts

    counts = attention_counts()
    if not counts["inbound"] and not counts["outbound_failed"]:
        return []
    html = render_to_string("mail/_home_panel.html", {"counts": counts}, request=request)
    return [{"title": _("Email"), "html": html}]


def metrics() -> list[tuple]:
    """Inbound mail not yet processed or needing an agent, and outbound mail queued or failed."""
    from okwallet.mail.models import OutboundMessage, RawMessage

    rows = [
        (
            "okw_emails_inbound",
            "Inbound emails by state.",
            "gauge",
            {"state": state},
            RawMessage.objects.filter(status=state).count(),
        )
        for state in (RawMessage.Status.RECEIVED, RawMessage.Status.FLAGGED, RawMessage.Status.FAILED)
    ]
    rows += [
        (
            "okw_emails_outbound",
            "Outbound emails by state.",
            "gauge",
            {"state": state},
            OutboundMessage.objects.filter(status=state).count(),
        )
        for state in (OutboundMessage.Status.QUEUED, OutboundMessage.Status.FAILED)
    ]
    return rows
