"""SLA targets: which policy applies, when each clock is due, pausing while pending the customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from okwallet.helpdesk import clock
from okwallet.helpdesk.models import Priority, SlaPolicy, Ticket


@dataclass(frozen=True)
class Targets:
    first_response_minutes: int
    next_response_minutes: int
    resolution_minutes: int
    warn_before_minutes: int = 60


# Business minutes (a service day is 540 minutes, 09:00–18:00).
DEFAULT_TARGETS = {
    Priority.URGENT: Targets(30, 60, 240, 15),
    Priority.HIGH: Targets(60, 120, 540, 30),
    Priority.NORMAL: Targets(240, 480, 1620, 60),
    Priority.LOW: Targets(540, 1080, 2700, 120),
}


def targets_for(category: str, priority: int, *, policies: list[SlaPolicy] | None = None) -> Targets:
    """Most specific policy wins: category+priority, category, priority, then the defaults.

    ``policies``: every SlaPolicy row, read once by a caller that creates many tickets."""
    if policies is None:
        policies = list(SlaPolicy.objects.filter(category__in=[category, ""]))
    rows = {
        (row.category, row.priority): row
        for row in policies
        if row.category in (category, "") and row.priority in (priority, None)
    }
    for key in ((category, priority), (category, None), ("", priority), ("", None)):
        row = rows.get(key)
        if row is not None:
            return Targets(
                row.first_response_minutes,
                row.next_response_minutes,
                row.resolution_minutes,
                row.warn_before_minutes,
            )
    return DEFAULT_TARGETS.get(priority, DEFAULT_TARGETS[Priority.NORMAL])


def schedule_for(ticket: Ticket) -> str:
    return ticket.queue.schedule or "email"


def start_clocks(ticket: Ticket, *, at: datetime, policies: list[SlaPolicy] | None = None) -> None:
    """Set first response and resolution due moments (not saved)."""
    targets = targets_for(ticket.category, ticket.priority, policies=policies)
    schedule = schedule_for(ticket)
    ticket.first_response_due = clock.add_business_minutes(schedule, at, targets.first_response_minutes)
    ticket.resolution_due = clock.add_business_minutes(schedule, at, targets.resolution_minutes)
    ticket.next_response_due = None


def on_agent_reply(ticket: Ticket, *, at: datetime) -> None:
    if ticket.first_responded_at is None:
        ticket.first_responded_at = at
    ticket.next_response_due = None


def on_customer_message(ticket: Ticket, *, at: datetime, policies: list[SlaPolicy] | None = None) -> None:
    """A customer waiting for an answer again starts the next-response clock."""
    if ticket.first_responded_at is None:
        return  # the first-response clock is still running
    targets = targets_for(ticket.category, ticket.priority, policies=policies)
    ticket.next_response_due = clock.add_business_minutes(
        schedule_for(ticket), at, targets.next_response_minutes
    )


CLOCKS = ("first_response_due", "next_response_due", "resolution_due")


def pause(ticket: Ticket, *, at: datetime) -> None:
    """Pending the customer: remember the business minutes left on every running clock."""
    if ticket.sla_paused_at is not None:
        return
    schedule = schedule_for(ticket)
    remaining = {}
    for name in CLOCKS:
        due = getattr(ticket, name)
        if due is not None:
            remaining[name] = clock.business_minutes_between(schedule, at, due) if due > at else 0
    ticket.sla_paused_at = at
    ticket.sla_remaining = remaining


def resume(ticket: Ticket, *, at: datetime) -> None:
    if ticket.sla_paused_at is None:
        return
    schedule = schedule_for(ticket)
    for name, minutes in (ticket.sla_remaining or {}).items():
        setattr(ticket, name, clock.add_business_minutes(schedule, at, int(minutes)))
    ticket.sla_paused_at = None
    ticket.sla_remaining = {}


def stop(ticket: Ticket) -> None:
    ticket.next_response_due = None
    ticket.sla_paused_at = None
    ticket.sla_remaining = {}


def due_moments(ticket: Ticket) -> list[tuple[str, datetime]]:
    if ticket.sla_paused_at is not None or not ticket.is_open:
        return []
    out = [(name, getattr(ticket, name)) for name in CLOCKS if getattr(ticket, name) is not None]
    if ticket.first_responded_at is not None:
        out = [(name, due) for name, due in out if name != "first_response_due"]
    if ticket.complaint_first_contact_due and ticket.complaint_first_contact_at is None:
        out.append(("complaint_first_contact_due", ticket.complaint_first_contact_due))
    if ticket.complaint_outcome_due and ticket.outcome_recorded_at is None:
        out.append(("complaint_outcome_due", ticket.complaint_outcome_due))
    return out


def next_due(ticket: Ticket) -> datetime | None:
    moments = [m for _name, m in due_moments(ticket)]
    return min(moments) if moments else None
