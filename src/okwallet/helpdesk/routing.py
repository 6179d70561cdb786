"""Who answers a ticket: round-robin or least-loaded over the queue's present agents, manual
assignment, and collision detection (who is viewing or replying right now)."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from okwallet.accounts.roles import SENIOR_MANAGER, SUPERVISOR, has_role, is_staff_member
from okwallet.core.audit import audit_log_write
from okwallet.core.timeutil import now_utc
from okwallet.helpdesk import errors
from okwallet.helpdesk.models import OPEN_STATUSES, AgentPresence, Queue, Ticket


def _open_load(user_ids) -> dict[int, int]:
    rows = (
        Ticket.objects.filter(assignee_id__in=list(user_ids), status__in=OPEN_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def candidates(queue: Queue) -> list:
    """Members of the queue who are online and below their ticket capacity, in id order."""
    return _candidates_with_load(queue)[0]


def _candidates_with_load(queue: Queue) -> tuple[list, dict[int, int]]:
    members = list(
        queue.members.filter(is_active=True, presence__status=AgentPresence.State.ONLINE)
        .select_related("presence")
        .order_by("id")
    )
    load = _open_load(m.pk for m in members)
    return [m for m in members if load.get(m.pk, 0) < m.presence.ticket_capacity], load


def ticket_auto_assign(*, ticket: Ticket) -> Ticket:
    """Assign by the queue's strategy. Locks the queue row (so two new tickets do not pick the
    same round-robin agent) and then the ticket. No candidate: the ticket stays unassigned."""
    with transaction.atomic():
        queue = Queue.objects.select_for_update().get(pk=ticket.queue_id)
        if queue.strategy == Queue.Strategy.MANUAL:
            return ticket
        row = Ticket.objects.select_for_update().get(pk=ticket.pk)
        _assign_in_queue(queue, [row])
    return row


def tickets_auto_assign(*, tickets: list[Ticket]) -> None:
    """``ticket_auto_assign`` for many new tickets (``TicketBatch``): one pass per queue, one
    UPDATE per chosen agent. Call inside the transaction that wrote the tickets."""
    by_queue: dict[int, list[Ticket]] = {}
    for ticket in tickets:
        if ticket.assignee_id is None and ticket.status in OPEN_STATUSES:
            by_queue.setdefault(ticket.queue_id, []).append(ticket)
    with transaction.atomic():
        for queue_id in sorted(by_queue):  # queues locked in id order
            queue = Queue.objects.select_for_update().get(pk=queue_id)
            if queue.strategy != Queue.Strategy.MANUAL:
                _assign_in_queue(queue, by_queue[queue_id])


def _assign_in_queue(queue: Queue, rows: list[Ticket]) -> None:
    """Pick an agent for each unassigned open ticket of ``rows`` (oldest first), counting the
    tickets given out in this pass against capacity; the queue row is locked by the caller."""
    rows = [r for r in rows if r.assignee_id is None and r.status in OPEN_STATUSES]
    if not rows:
        return
    people, load = _candidates_with_load(queue)
    chosen_for: dict[int, list[Ticket]] = {}
    last = queue.last_assigned_id
    by_pk = {p.pk: p for p in people}
    for row in rows:
        eligible = [p for p in people if load.get(p.pk, 0) < p.presence.ticket_capacity]
        if not eligible:
            break
        if queue.strategy == Queue.Strategy.ROUND_ROBIN:
            after = [p for p in eligible if last is None or p.pk > last]
            chosen = (after or eligible)[0]
        else:
            chosen = min(eligible, key=lambda p: (load.get(p.pk, 0), p.pk))
        load[chosen.pk] = load.get(chosen.pk, 0) + 1
        last = chosen.pk
        row.assignee = chosen
        chosen_for.setdefault(chosen.pk, []).append(row)
    if not chosen_for:
        return
    from okwallet.core.bulk import insert_rows
    from okwallet.helpdesk.models import TicketEvent

    at = now_utc()
    events = []
    for agent_pk, assigned in chosen_for.items():
        Ticket.objects.filter(pk__in=[r.pk for r in assigned]).update(assignee_id=agent_pk)
        events += [
            TicketEvent(
                ticket=r,
                kind="assigned",
                details={"assignee": by_pk[agent_pk].username, "how": queue.strategy},
                created_at=at,
            )
            for r in assigned
        ]
    insert_rows(TicketEvent, events)
    queue.last_assigned_id = last
    queue.save(update_fields=["last_assigned"])


def can_work_queue(user, queue: Queue) -> bool:
    if has_role(user, SUPERVISOR, "admin"):
        return True
    if queue.code == "complaints":
        return has_role(user, SENIOR_MANAGER)
    if has_role(user, SENIOR_MANAGER):
        return True
    return queue.members.filter(pk=user.pk).exists()


def ticket_assign(*, ticket: Ticket, assignee, actor, request=None, force: bool = False) -> Ticket:
    """Manual assignment. The assignee must be staff, allowed on the ticket's queue and present
    (online or away); assigning to an offline agent is refused unless ``force`` (supervisors)."""
    from okwallet.helpdesk.services import _emit, _event

    if assignee is not None:
        if not is_staff_member(assignee) or not can_work_queue(assignee, ticket.queue):
            raise errors.AgentUnavailable(details={"agent": getattr(assignee, "username", "")})
        presence = AgentPresence.objects.filter(user=assignee).first()
        status = presence.status if presence else AgentPresence.State.OFFLINE
        if status == AgentPresence.State.OFFLINE and not (force and has_role(actor, SUPERVISOR, "admin")):
            raise errors.AgentUnavailable(
                message=_("%(name)s is offline. Choose an agent who is online.") % {"name": assignee},
                details={"agent": assignee.username, "presence": status},
            )
    with transaction.atomic():
        row = Ticket.objects.select_for_update(of=("self",)).select_related("queue").get(pk=ticket.pk)
        if row.assignee_id == (assignee.pk if assignee else None):
            return row
        before = row.assignee.username if row.assignee else ""
        row.assignee = assignee
        row.updated_at = now_utc()
        row.save(update_fields=["assignee", "updated_at"])
        _event(row, "assigned", actor=actor, assignee=assignee.username if assignee else "", before=before)
        audit_log_write(
            actor=actor,
            action="ticket.assign",
            obj=row,
            request=request,
            details={"assignee": assignee.username if assignee else None, "before": before},
        )
        _emit("ticket.updated", row)
    return row


# --- collision detection ------------------------------------------------------------------
# One cache entry per ticket: {user_id: [name, mode, expires_epoch]}. With Redis configured the
# cache is shared by every app process; entries expire by themselves.
COLLISION_TTL = 30


def _collision_key(ticket_id: int) -> str:
    return f"hd:collide:{ticket_id}"


def collision_touch(*, ticket_id: int, user, mode: str = "viewing") -> list[dict]:
    """Record that ``user`` is viewing (or ``replying`` to) the ticket; return the others."""
    now = time.time()
    key = _collision_key(ticket_id)
    entries = {k: v for k, v in (cache.get(key) or {}).items() if v[2] > now}
    entries[str(user.pk)] = [str(user), "replying" if mode == "replying" else "viewing", now + COLLISION_TTL]
    cache.set(key, entries, COLLISION_TTL * 2)
    return [
        {"user_id": int(uid), "name": v[0], "mode": v[1]} for uid, v in entries.items() if uid != str(user.pk)
    ]


def collision_leave(*, ticket_id: int, user) -> None:
    key = _collision_key(ticket_id)
    entries = cache.get(key) or {}
    entries.pop(str(user.pk), None)
    cache.set(key, entries, COLLISION_TTL * 2)


def collision_others(*, ticket_id: int, user) -> list[dict]:
    now = time.time()
    entries = cache.get(_collision_key(ticket_id)) or {}
    return [
        {"user_id": int(uid), "name": v[0], "mode": v[1]}
        for uid, v in entries.items()
        if uid != str(user.pk) and v[2] > now
    ]


def queue_ids_for(user) -> list[int] | None:
    """Queues whose tickets ``user`` may see; ``None`` means all."""
    if has_role(user, SUPERVISOR, "admin"):
        return None
    if has_role(user, SENIOR_MANAGER):
        return None
    return list(Queue.objects.filter(Q(members=user), restricted=False).values_list("pk", flat=True))
