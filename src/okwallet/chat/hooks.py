"""What chat contributes to the other apps (docs/interfaces.md)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext


def customer_360_contacts(user) -> list[dict]:
    from okwallet.chat.models import Conversation

    rows = Conversation.objects.filter(customer=user).order_by("-id")[:20]
    out = []
    for c in rows:
        first = c.messages.filter(sender="customer").order_by("seq").first()
        summary = f"{c.get_topic_display()} · {c.get_status_display()}"
        if first is not None:
            summary += f" · {first.body[:60]}"
        out.append(
            {
                "kind": "chat",
                "kind_label": pgettext("customer 360 contact", "Chat"),
                "when": c.created_at,
                "summary": summary,
                "url": reverse("chat:console_chat", args=[c.public_id]),
            }
        )
    return out


def _panel(request_or_viewer) -> dict:
    from okwallet.chat import selectors

    overview = selectors.live_overview()
    html = render_to_string("chat/_panel.html", {"overview": overview, "join": selectors.join_estimate()})
    return {"title": _("Live chat"), "html": html}


def dashboard_panels(viewer) -> list[dict]:
    return [_panel(viewer)]


def console_home_panels(request) -> list[dict]:
    from okwallet.accounts.roles import is_staff_member

    if not is_staff_member(request.user):
        return []
    return [_panel(request)]


def on_ticket_public_reply(ticket, message) -> bool | None:
    """A public ticket reply while the customer has a live chat about it: post it into the chat."""
    from okwallet.chat import services

    number = getattr(ticket, "number", "")
    if not number:
        return None
    from okwallet.chat.selectors import live_chat_for_ticket

    conv = live_chat_for_ticket(ticket)
    if conv is None:
        return None
    body = (getattr(message, "body", "") or "").strip()
    if not body:
        return None
    header = _("New reply on your ticket %(number)s:") % {"number": number}
    services.message_post(
        conversation_id=conv.pk,
        sender="system",
        body=(header + "\n" + body)[: services.max_chars()],
        client_id=f"ticket-msg:{getattr(message, 'pk', '')}",
    )
    return True


def metrics() -> list[tuple]:
    """Chats waiting for an agent and chats with an agent, for /metrics."""
    from okwallet.chat.models import Conversation

    return [
        (
            "okw_chats",
            "Live chats by state.",
            "gauge",
            {"state": state},
            Conversation.objects.filter(status=state).count(),
        )
        for state in (Conversation.Status.QUEUED, Conversation.Status.ACTIVE)
    ]
