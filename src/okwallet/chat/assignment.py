"""Automatic assignment: waiting chats go to available agents, from any server.

An agent is **available** when their auto-accept switch is on (``AgentChatState``), a console
socket of theirs is connected (an ``AgentSocket`` seen within ``OKWALLET_CHAT_AGENT_STALE_S``),
their helpdesk presence is online, and they have fewer active chats than their limit. Waiting
chats are taken in the order they are served (priority, i.e. aged 60+, first; then the longest
wait) and each goes to the least-loaded available agent whose queues include the chat's queue
(load = active chats / limit; ties go to whoever was given a chat longest ago, so equals take
turns). A chat never goes back automatically to an agent who left it (transfer, disconnect).

A pass runs after every event that can make an assignment possible — a customer joins a queue,
an agent frees a slot (end, transfer), an agent turns auto-accept on or connects — and every
minute from the Huey task ``chat_assignment_sweep`` as a safety net. The same pass puts back in
the queue the chats of agents with no live socket for longer than the grace period
(``OKWALLET_CHAT_AGENT_GRACE_S``), keeping the customer's original join time.

Locking contract: one assignment is one transaction. It locks the agent's user row with
``SELECT … FOR UPDATE SKIP LOCKED`` (an agent that another server is assigning to right now is
skipped, and the next eligible agent tried), counts the agent's active chats under that lock,
then locks the conversation (waiting for it: a customer's message holds the row only for its
insert, and nobody holding a conversation waits for a user row, so this cannot deadlock) and
checks it is still waiting. Manual accepts and transfers to an agent lock the same user row
first (``services``), so no path passes an agent's limit. SQLite has no row locks; its writers
are serialised (``BEGIN IMMEDIATE``), which gives the same guarantee.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from okwallet.accounts.roles import is_staff_member
from okwallet.chat import events, integrations
from okwallet.chat import selectors as sel
from okwallet.chat.errors import ChatForbidden
from okwallet.chat.models import AgentChatState, AgentSocket, Conversation, Message, Participant
from okwallet.core.audit import audit_log_write
from okwallet.core.timeutil import now_utc

log = logging.getLogger(__name__)
Status = Conversation.Status

HEARTBEAT_S = 20  # console sockets refresh ``AgentSocket.seen_at`` this often
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_local = threading.local()


def stale_after() -> timedelta:
    """A socket not seen for this long belongs to a server that stopped: it no longer counts."""
    return timedelta(seconds=int(sel.conf("OKWALLET_CHAT_AGENT_STALE_S", 3 * HEARTBEAT_S)))


def grace_period() -> timedelta:
    return timedelta(seconds=int(sel.conf("OKWALLET_CHAT_AGENT_GRACE_S", 60)))


# --- availability and console sockets ----------------------------------------------------------


def agent_state(agent) -> AgentChatState:
    state, _created = AgentChatState.objects.get_or_create(user=agent)
    return state


@transaction.atomic
def agent_availability_set(*, agent, auto_accept: bool, request=None) -> AgentChatState:
    """The agent's "available for chats" switch. Turning it on also sets their helpdesk presence
    online (they are working) and offers them waiting chats at once."""
    if not is_staff_member(agent):
        raise ChatForbidden(message=_("Only agents can take chats."))
    state, _created = AgentChatState.objects.select_for_update().get_or_create(user=agent)
    auto_accept = bool(auto_accept)
    if state.auto_accept != auto_accept:
        state.auto_accept = auto_accept
        state.save(update_fields=["auto_accept", "updated_at"])
        audit_log_write(
            actor=agent,
            action="chat.availability",
            object_type="chat.agentchatstate",
            object_id=str(agent.pk),
            request=request,
            details={"auto_accept": auto_accept},
        )
    if auto_accept:
        integrations.presence_go_online(agent)
        assign_after_commit()
    events.emit(
        events.STAFF_GROUP,
        {
            "type": "chat.staff",
            "event": {"type": "availability", "agent_id": agent.pk, "auto_accept": auto_accept},
        },
    )
    return state


@transaction.atomic
def agent_socket_open(*, agent, channel_name: str) -> AgentChatState:
    """A console socket connected (any server). An available agent is offered waiting chats."""
    now = now_utc()
    AgentSocket.objects.update_or_create(channel_name=channel_name, defaults={"user": agent, "seen_at": now})
    state = agent_state(agent)
    AgentChatState.objects.filter(pk=agent.pk).update(last_seen_at=now)
    if state.auto_accept:
        assign_after_commit()
    return state


def agent_socket_seen(*, agent_id: int, channel_name: str) -> None:
    """Heartbeat of a connected console socket."""
    now = now_utc()
    with transaction.atomic():
        if not AgentSocket.objects.filter(channel_name=channel_name).update(seen_at=now):
            # purged as stale while this server was paused: it is alive after all
            AgentSocket.objects.create(channel_name=channel_name, user_id=agent_id, seen_at=now)
        AgentChatState.objects.filter(pk=agent_id).update(last_seen_at=now)


@transaction.atomic
def agent_socket_close(*, agent_id: int, channel_name: str) -> None:
    """A console socket closed; the grace period for the agent's chats starts now."""
    AgentSocket.objects.filter(channel_name=channel_name).delete()
    AgentChatState.objects.filter(pk=agent_id).update(last_seen_at=now_utc())


def _live_agent_ids(now: datetime):
    return AgentSocket.objects.filter(seen_at__gte=now - stale_after()).values("user_id")


# --- who can take a chat now ------------------------------------------------------------------


@dataclass
class Candidate:
    user: object
    capacity: int
    load: int
    queues: set[str] | None  # None: any queue
    last_assigned_at: datetime | None

    def can_take(self, queue: str) -> bool:
        return self.load < self.capacity and (self.queues is None or queue in self.queues)

    def order_key(self):
        return (self.load / self.capacity, self.last_assigned_at or _EPOCH, self.user.pk)


def available_agents(*, now: datetime | None = None) -> list[Candidate]:
    """Agents who take chats automatically right now and have a free slot (no locks taken)."""
    now = now or now_utc()
    states = list(
        AgentChatState.objects.filter(
            auto_accept=True, user__is_active=True, user__is_staff=True, user_id__in=_live_agent_ids(now)
        ).select_related("user")
    )
    users = [s.user for s in states if is_staff_member(s.user)]
    if not users:
        return []
    presence = integrations.presence_statuses(u.pk for u in users)
    if presence is not None:
        users = [u for u in users if presence.get(u.pk) == "online"]
    loads = dict(
        Conversation.objects.filter(status=Status.ACTIVE, agent__in=users)
        .values("agent_id")
        .annotate(n=Count("id"))
        .values_list("agent_id", "n")
    )
    queues = integrations.agent_chat_queues(users)
    last = {s.user_id: s.last_assigned_at for s in states}
    out = []
    for user in users:
        cap = sel.agent_capacity(user)
        if cap > 0 and loads.get(user.pk, 0) < cap:
            out.append(Candidate(user, cap, loads.get(user.pk, 0), queues.get(user.pk), last.get(user.pk)))
    return out


# --- assignment --------------------------------------------------------------------------------


def assign_after_commit() -> None:
    """Run an assignment pass once the current transaction commits (nothing if it rolls back)."""
    if getattr(_local, "running", False):
        return  # inside a pass, which goes on looking by itself
    transaction.on_commit(_pass_safely)


def _pass_safely() -> None:
    try:
        assign_waiting()
    except Exception:  # noqa: BLE001 - the change that triggered us is committed; the sweep retries
        log.exception("chat: assignment pass failed")


def assign_waiting(*, limit: int = 200) -> list[tuple[str, int]]:
    """Give waiting chats to available agents; returns ``[(conversation public id, agent id)]``.

    First puts back the chats of agents gone for longer than the grace period. Waiting customers
    get their new positions once, at the end."""
    if getattr(_local, "running", False):
        return []
    _local.running = True
    made: list[tuple[str, int]] = []
    try:
        requeued = requeue_departed()
        agents = available_agents()
        passed_over: set[int] = set()
        while agents and len(made) < limit:
            done = _assign_next(agents, passed_over)
            if done is None:
                break
            made.append(done)
    finally:
        _local.running = False
    if made or requeued:
        from okwallet.chat.services import _emit_queue_changed

        _emit_queue_changed()  # outside a transaction: sent now
    return made


def _assign_next(agents: list[Candidate], passed_over: set[int]) -> tuple[str, int] | None:
    """The next assignment in serving order; chats nobody can take now are passed over."""
    while any(a.load < a.capacity for a in agents):
        batch = list(sel.waiting().exclude(pk__in=passed_over).values_list("pk", "queue")[:100])
        if not batch:
            return None
        for conv_id, queue in batch:
            done = _assign_one(conv_id, queue, agents)
            if done is not None:
                return done
            passed_over.add(conv_id)
    return None


def _assign_one(conv_id: int, queue: str, agents: list[Candidate]) -> tuple[str, int] | None:
    eligible = [a for a in agents if a.can_take(queue)]
    if eligible:
        left = set(
            Participant.objects.filter(
                conversation_id=conv_id, role=Participant.Role.AGENT, left_at__isnull=False
            ).values_list("user_id", flat=True)
        )
        eligible = sorted((a for a in eligible if a.user.pk not in left), key=Candidate.order_key)
    for cand in eligible:
        outcome = _try_assign(conv_id, cand)
        if outcome == "assigned":
            cand.load += 1
            cand.last_assigned_at = now_utc()
            return Conversation.objects.values_list("public_id", flat=True).get(pk=conv_id), cand.user.pk
        if outcome == "gone":
            return None
        # "busy": another server is assigning to this agent; "full": they have no slot now
    return None


def _lock_skipping(qs):
    if connection.features.has_select_for_update_skip_locked:
        return qs.select_for_update(skip_locked=True)
    return qs.select_for_update()  # SQLite: no row locks, writers are serialised


def _try_assign(conv_id: int, cand: Candidate) -> str:
    from okwallet.chat import services

    with transaction.atomic():
        agent = _lock_skipping(get_user_model().objects.filter(pk=cand.user.pk)).first()
        if agent is None:
            return "busy"
        if not AgentChatState.objects.filter(user=agent, auto_accept=True).exists():
            cand.load = cand.capacity  # switched off meanwhile
            return "full"
        load, capacity = sel.agent_load(agent), sel.agent_capacity(agent)
        if load >= capacity:
            cand.load, cand.capacity = load, max(capacity, 1)
            return "full"
        conv = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "agent")
            .filter(pk=conv_id, status=Status.QUEUED)
            .first()
        )
        if conv is None:
            return "gone"
        services.accept_locked(conv, agent=agent, how="auto")
        AgentChatState.objects.filter(pk=agent.pk).update(last_assigned_at=now_utc())
        audit_log_write(
            action="chat.auto_assign", obj=conv, details={"agent": agent.username, "queue": conv.queue}
        )
    return "assigned"


# --- agents who left ---------------------------------------------------------------------------


def _departed_ids(now: datetime):
    return (
        AgentChatState.objects.filter(last_seen_at__lt=now - grace_period())
        .exclude(user_id__in=_live_agent_ids(now))
        .values("user_id")
    )


def requeue_departed(*, now: datetime | None = None) -> list[int]:
    """Chats of agents with no live console socket for longer than the grace period go back to
    their queue (at their original join time, so ahead of later customers)."""
    now = now or now_utc()
    ids = list(
        Conversation.objects.filter(status=Status.ACTIVE, agent_id__in=_departed_ids(now))
        .order_by("id")
        .values_list("pk", flat=True)[:200]
    )
    return [pk for pk in ids if _requeue_one(pk, now)]


def _requeue_one(conv_id: int, now: datetime) -> bool:
    from okwallet.chat import services

    with transaction.atomic():
        conv = services._lock(conv_id)
        if conv.status != Status.ACTIVE or conv.agent_id is None:
            return False
        if not _departed_ids(now).filter(user_id=conv.agent_id).exists():
            return False  # came back meanwhile
        agent = conv.agent
        Participant.objects.filter(conversation=conv, user=agent).update(left_at=now)
        conv.status, conv.agent = Status.QUEUED, None
        conv.queued_at = conv.queued_at or now
        conv.save(update_fields=["status", "agent", "queued_at"])
        with services._lang(conv):
            services._append(
                conv,
                sender=Message.Sender.SYSTEM,
                body=_(
                    "%(name)s was disconnected for more than %(s)s seconds; the chat went back to the queue."
                )
                % {"name": agent.display_name or agent.username, "s": int(grace_period().total_seconds())},
                internal=True,
                data={"kind": "requeued", "agent": agent.pk},
            )
            services._append(
                conv,
                sender=Message.Sender.SYSTEM,
                body=_(
                    "Your agent has lost their connection. We are finding another person for you; "
                    "you keep your place in the queue."
                ),
                data={"kind": "requeued"},
            )
        audit_log_write(
            action="chat.requeue",
            obj=conv,
            details={"agent": agent.username, "reason": "agent_disconnected"},
        )
        services._emit_status(conv)
        events.emit(
            events.STAFF_GROUP,
            {"type": "chat.staff", "event": {"type": "requeued", "conversation": conv.public_id}},
        )
    return True


def assignment_sweep() -> dict:
    """The periodic safety net: forget long-dead sockets, put back chats of departed agents, and
    assign what is waiting."""
    now = now_utc()
    AgentSocket.objects.filter(seen_at__lt=now - 10 * stale_after()).delete()
    made = assign_waiting()
    return {"assigned": len(made)}
