"""Hooks helpdesk implements for the apps below and the page shells (docs/interfaces.md)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from okwallet.helpdesk.models import OPEN_STATUSES, Category, Ticket

DISPUTE_CATEGORIES = (Category.DEPOSIT, Category.WITHDRAWAL, Category.TRANSFER, Category.COMPLAINT)


def closure_blockers(user) -> list[dict]:
    """An account with an open dispute (money or complaint ticket) cannot be closed yet."""
    numbers = list(
        Ticket.objects.filter(customer=user, status__in=OPEN_STATUSES, category__in=DISPUTE_CATEGORIES)
        .order_by("created_at")
        .values_list("number", flat=True)[:5]
    )
    if not numbers:
        return []
    return [
        {
            "code": "open_dispute_tickets",
            "message": _(
                "You have open requests about money or a complaint (%(numbers)s). We need to finish them first."
            )
            % {"numbers": ", ".join(numbers)},
        }
    ]


def case_ticket_open(
    *, category: str, subject: str, body: str, actor=None, source_ref: str = "", facts: dict | None = None
) -> dict:
    """For the apps below (payments' reconciliation cases): an internal ticket an agent opened to
    chase something, idempotent on ``source_ref``. Returns ``{"number", "url"}``."""
    from django.urls import reverse

    from okwallet.helpdesk.services import ticket_create

    ticket = ticket_create(
        channel="web",
        category=category,
        subject=subject,
        body=body,
        actor=actor,
        source_ref=source_ref,
        facts=facts or {},
        tags=("reconciliation",),
    )
    return {"number": ticket.number, "url": reverse("helpdesk:ticket", args=[ticket.number])}


def portal_home_panels(request) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return []
    tickets = list(Ticket.objects.filter(customer=user, status__in=OPEN_STATUSES).order_by("-updated_at")[:5])
    html = render_to_string("helpdesk/panels/portal_home.html", {"tickets": tickets}, request=request)
    return [{"title": _("My requests"), "html": html}]


def console_home_panels(request) -> list[dict]:
    from okwallet.accounts.roles import is_staff_member
    from okwallet.helpdesk import selectors

    user = getattr(request, "user", None)
    if user is None or not is_staff_member(user):
        return []
    counts = {
        "mine": selectors.inbox(user, view="mine").count(),
        "unassigned": selectors.inbox(user, view="unassigned").count(),
        "breaching": selectors.inbox(user, view="breaching").count(),
    }
    html = render_to_string("helpdesk/panels/console_home.html", {"counts": counts}, request=request)
    return [{"title": _("Tickets"), "html": html}]


def metrics() -> list[tuple]:
    """Queue depth for /metrics: tickets by state, and open tickets past an SLA target."""
    from django.db.models import Count

    from okwallet.helpdesk.models import Ticket

    rows = [
        ("okw_tickets", "Tickets by state.", "gauge", {"state": status}, n)
        for status, n in Ticket.objects.values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    ]
    breached = Ticket.objects.filter(sla_breached=True).exclude(status__in=["solved", "closed"]).count()
    rows.append(("okw_tickets_sla_breached", "Open tickets past an SLA target.", "gauge", {}, breached))
    return rows
