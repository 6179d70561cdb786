"""What the hotline contributes to other apps' pages (docs/interfaces.md)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext


def customer_360_contacts(user) -> list[dict]:
    from okwallet.voice.selectors import calls_for_customer

    rows = []
    for call in calls_for_customer(user, limit=20):
        summary = f"{call.get_topic_display() or _('no topic')} · "
        summary += call.get_outcome_display() if call.is_ended else call.get_status_display()
        if call.duration_s:
            summary += f" · {call.duration_s}s"
        if call.ticket_number:
            summary += f" · {call.ticket_number}"
        rows.append(
            {
                "kind": "call",
                "kind_label": pgettext("customer 360 contact", "Call"),
                "when": call.started_at,
                "summary": summary,
                "url": reverse("voice:call", args=[call.pk]),
            }
        )
    return rows


def _figures_html(request=None) -> str:
    from okwallet.voice.selectors import supervisor_figures

    return render_to_string("voice/_figures.html", {"f": supervisor_figures()}, request=request)


def dashboard_panels(viewer) -> list[dict]:
    from okwallet.accounts.roles import SUPERVISOR, has_role

    if not has_role(viewer, SUPERVISOR, "admin", "senior_manager"):
        return []
    # render_to_string returns a SafeString: the template escaped everything it printed.
    return [{"title": _("Hotline today"), "html": _figures_html()}]


def console_home_panels(request) -> list[dict]:
    from okwallet.voice.models import AgentLine
    from okwallet.voice.selectors import callbacks_open, waiting_calls

    line = AgentLine.objects.filter(agent=request.user).first()
    html = render_to_string(
        "voice/_home_panel.html",
        {
            "waiting": waiting_calls().count(),
            "callbacks": callbacks_open().count(),
            "line": line,
        },
        request=request,
    )
    return [{"title": _("Hotline"), "html": html}]


def metrics() -> list[tuple]:
    """Calls in the menu, waiting and connected, for /metrics."""
    from okwallet.voice.models import Call

    return [
        (
            "okw_calls",
            "Hotline calls by state.",
            "gauge",
            {"state": state},
            Call.objects.filter(status=state).count(),
        )
        for state in (Call.Status.IVR, Call.Status.QUEUED, Call.Status.CONNECTED)
    ]
