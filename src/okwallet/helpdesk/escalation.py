"""The periodic SLA job: warn before a deadline, mark breaches, escalate.

Escalation actions on a breach: notify the assignee (or the queue) and the next rung of the
ladder, raise the priority one step, and for a missed first response hand an unanswered ticket
back to the queue's routing (reassign). Each ticket is locked while it is changed; the job is
idempotent (flags and escalation levels only move forward).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from okwallet.core.timeutil import format_local, now_utc
from okwallet.helpdesk import sla
from okwallet.helpdesk.models import OPEN_STATUSES, Priority, Status, Ticket


def _staff_with_role(role: str):
    return list(get_user_model().objects.filter(groups__name=role, is_active=True)[:20])


def _notify(users, *, kind: str, body: str) -> None:
    from okwallet.core.notify import notification_send

    for user in {u.pk: u for u in users if u is not None}.values():
        notification_send(channel="inapp", kind=kind, user=user, body=body, subject=body[:80])


def sla_sweep(*, at=None, limit: int = 2000) -> dict:
    at = at or now_utc()
    horizon = at + timedelta(hours=6)
    due_soon = Q()
    for name in (*sla.CLOCKS, "complaint_first_contact_due", "complaint_outcome_due"):
        due_soon |= Q(**{f"{name}__lte": horizon})
    ids = list(
        Ticket.objects.filter(
            due_soon, status__in=[s for s in OPEN_STATUSES if s != Status.PENDING]
        ).values_list("pk", flat=True)[:limit]
    )
    counts = {"warned": 0, "breached": 0, "escalated": 0}
    for pk in ids:
        result = _sweep_one(pk, at)
        for key in counts:
            counts[key] += int(result.get(key, False))
    return counts


def _sweep_one(pk: int, at) -> dict:
    from okwallet.helpdesk.services import _emit, _event

    out = {}
    with transaction.atomic():
        t = Ticket.objects.select_for_update(of=("self",)).select_related("queue", "assignee").get(pk=pk)
        if not t.is_open or t.sla_paused_at is not None:
            return out
        targets = sla.targets_for(t.category, t.priority)
        moments = sla.due_moments(t)
        breached = [name for name, due in moments if due <= at]
        warn = [
            name for name, due in moments if at < due <= at + timedelta(minutes=targets.warn_before_minutes)
        ]
        changed = False
        if warn and not t.sla_warned:
            t.sla_warned = True
            changed = out["warned"] = True
            _event(t, "sla_warning", at=at, clocks=warn)
            _notify(
                [t.assignee],
                kind="sla_warning",
                body=_("Ticket %(n)s is due soon (%(due)s).")
                % {"n": t.number, "due": format_local(min(d for n, d in moments if n in warn))},
            )
        new_breaches = [name for name in breached if name not in t.breach_kinds]
        if new_breaches:
            t.sla_breached = True
            t.breach_kinds = sorted(set(t.breach_kinds) | set(new_breaches))
            changed = out["breached"] = True
            _event(t, "sla_breached", at=at, clocks=new_breaches)
            t.escalation_level += 1
            out["escalated"] = True
            if t.priority < Priority.URGENT:
                t.priority += 1
            rung = {1: "senior_manager", 2: "supervisor"}.get(t.escalation_level, "supervisor")
            body = _("Ticket %(n)s missed its deadline (%(what)s); escalated to level %(level)d.") % {
                "n": t.number,
                "what": ", ".join(new_breaches),
                "level": t.escalation_level,
            }
            _notify([t.assignee, *_staff_with_role(rung)], kind="sla_breach", body=body)
            _event(t, "escalated", at=at, level=t.escalation_level, rung=rung)
            if "first_response_due" in new_breaches and t.assignee_id and t.last_agent_reply_at is None:
                before = t.assignee.username
                t.assignee = None
                _event(t, "unassigned", at=at, reason="first_response_breached", before=before)
            _emit("ticket.sla_breached", t)
        if changed:
            t.save()
    if out.get("escalated") and t.assignee_id is None:
        from okwallet.helpdesk.routing import ticket_auto_assign

        ticket_auto_assign(ticket=t)
    return out
