"""Reads: who may open a conversation, what a reconnecting client missed, queue positions and waits."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q

from okwallet.accounts.roles import SENIOR_MANAGER, SUPERVISOR, has_role, is_staff_member
from okwallet.chat import integrations
from okwallet.chat.errors import ChatNotFound
from okwallet.chat.models import Conversation, Message
from okwallet.core.queueing import erlang_c_wait_seconds, position_wait_seconds, servers_for
from okwallet.core.timeutil import now_utc


def conf(name: str, default):
    return getattr(settings, name, default)


def visitor_hash(visitor_key: str) -> str:
    return hashlib.sha256(("okw-chat-visitor:" + visitor_key).encode()).hexdigest() if visitor_key else ""


def is_supervisor(user) -> bool:
    return has_role(user, SUPERVISOR, SENIOR_MANAGER)


def access_conversation(
    *, public_id: str, user=None, visitor_key: str = "", for_update: bool = False
) -> Conversation:
    """Fetch a conversation the caller may see, or raise ``ChatNotFound``.

    A customer sees only their own; an anonymous visitor only the one started with their
    visitor key (and never one that belongs to an account); staff (agents, supervisors) see
    all, since any agent may be asked to take a chat. Someone else's conversation looks the
    same as a missing one, so ids cannot be probed.
    """
    qs = Conversation.objects.all()
    if for_update:
        qs = qs.select_for_update()
    conv = qs.filter(public_id=str(public_id)[:32]).first() if public_id else None
    if conv is None:
        raise ChatNotFound()
    if user is not None and getattr(user, "is_authenticated", False):
        if is_staff_member(user):
            return conv
        if conv.customer_id == user.pk:
            return conv
        raise ChatNotFound()
    if conv.customer_id is None and visitor_key and conv.visitor_hash == visitor_hash(visitor_key):
        return conv
    raise ChatNotFound()


def open_conversation_for(*, user=None, visitor_key: str = "") -> Conversation | None:
    qs = Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES)
    if user is not None and getattr(user, "is_authenticated", False):
        return qs.filter(customer=user).order_by("-id").first()
    if visitor_key:
        return (
            qs.filter(customer__isnull=True, visitor_hash=visitor_hash(visitor_key)).order_by("-id").first()
        )
    return None


def messages_after(conversation: Conversation | int, last_seq: int, *, for_staff: bool, limit: int = 500):
    qs = Message.objects.filter(conversation=conversation, seq__gt=max(0, int(last_seq)))
    if not for_staff:
        qs = qs.filter(internal=False)
    return list(qs.select_related("author", "attachment").order_by("seq")[:limit])


def messages_between(conversation_id: int, after: int, before: int, *, for_staff: bool, limit: int = 500):
    """Messages numbered after ``after`` and before ``before``, in order (a socket filling a gap)."""
    qs = Message.objects.filter(conversation_id=conversation_id, seq__gt=after, seq__lt=before)
    if not for_staff:
        qs = qs.filter(internal=False)
    return list(qs.select_related("author", "attachment").order_by("seq")[:limit])


def waiting(queue: str | None = None):
    """Waiting chats in the order they are served: priority (aged 60+) first, then join time."""
    qs = Conversation.objects.filter(status=Conversation.Status.QUEUED)
    if queue:
        qs = qs.filter(queue=queue)
    return qs.order_by("-priority", "queued_at", "id")


def queue_position(conversation: Conversation) -> int:
    """How many customers are ahead in the same queue (0 = next)."""
    if conversation.status != Conversation.Status.QUEUED or conversation.queued_at is None:
        return 0
    p, q = conversation.priority, conversation.queued_at
    return (
        Conversation.objects.filter(status=Conversation.Status.QUEUED, queue=conversation.queue)
        .filter(
            Q(priority__gt=p)
            | Q(priority=p, queued_at__lt=q)
            | Q(priority=p, queued_at=q, id__lt=conversation.pk)
        )
        .count()
    )


def mean_handle_seconds() -> float:
    """Mean handle time of the last 50 chats an agent took (default from settings until there are 5)."""
    rows = list(
        Conversation.objects.filter(accepted_at__isnull=False, ended_at__isnull=False)
        .order_by("-ended_at")
        .values_list("accepted_at", "ended_at")[:50]
    )
    default = float(conf("OKWALLET_CHAT_MEAN_HANDLE_S", 360))
    if len(rows) < 5:
        return default
    total = sum(max(30.0, (end - start).total_seconds()) for start, end in rows)
    return total / len(rows)


def chat_servers() -> int:
    """c in the queue model: the chat capacities of agents online (each agent counts as their limit).

    Without presence data, the agents who are chatting now, each at the default capacity.
    """
    caps = integrations.agent_capacities()
    if caps:
        return servers_for(caps.values())
    default_cap = int(conf("OKWALLET_CHAT_DEFAULT_CAPACITY", 3))
    agents = (
        Conversation.objects.filter(status=Conversation.Status.ACTIVE, agent__isnull=False)
        .values("agent_id")
        .distinct()
        .count()
    )
    return agents * default_cap


def arrival_rate_per_s(window: timedelta = timedelta(hours=1)) -> float:
    since = now_utc() - window
    return Conversation.objects.filter(queued_at__gte=since).count() / window.total_seconds()


def _rounded(seconds: float) -> int | None:
    if math.isinf(seconds) or math.isnan(seconds):
        return None
    return int(math.ceil(seconds))


def queue_estimate(conversation: Conversation) -> dict:
    """Live position and expected wait for a queued customer: (k + 1) / (c·μ)."""
    position = queue_position(conversation)
    servers = chat_servers()
    busy = Conversation.objects.filter(status=Conversation.Status.ACTIVE).count()
    wait = position_wait_seconds(
        position=position, servers=servers, mean_handle_s=mean_handle_seconds(), busy=busy
    )
    return {
        "position": position + 1,
        "ahead": position,
        "estimated_wait_s": _rounded(wait),
        "servers": servers,
    }


def join_estimate() -> dict:
    """Expected wait for someone about to join the queue: Erlang C with the last hour's arrivals."""
    servers = chat_servers()
    handle = mean_handle_seconds()
    lam = arrival_rate_per_s()
    if servers == 0:
        return {"estimated_wait_s": None, "servers": 0}
    wait = erlang_c_wait_seconds(arrival_rate_per_s=lam, mean_handle_s=handle, servers=servers)
    return {"estimated_wait_s": _rounded(wait), "servers": servers}


def agent_load(agent) -> int:
    return Conversation.objects.filter(status=Conversation.Status.ACTIVE, agent=agent).count()


def agent_auto_accept(agent) -> bool:
    """Whether the agent's "take chats automatically" switch is on."""
    from okwallet.chat.models import AgentChatState

    return bool(AgentChatState.objects.filter(user=agent).values_list("auto_accept", flat=True).first())


def agent_capacity(agent) -> int:
    return integrations.agent_capacity(agent, int(conf("OKWALLET_CHAT_DEFAULT_CAPACITY", 3)))


def agent_loads() -> list[dict]:
    rows = (
        Conversation.objects.filter(status=Conversation.Status.ACTIVE, agent__isnull=False)
        .values("agent_id", "agent__display_name", "agent__username")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    caps = integrations.agent_capacities() or {}
    default_cap = int(conf("OKWALLET_CHAT_DEFAULT_CAPACITY", 3))
    out = []
    seen = set()
    for r in rows:
        seen.add(r["agent_id"])
        out.append(
            {
                "agent_id": r["agent_id"],
                "name": r["agent__display_name"] or r["agent__username"],
                "active": r["n"],
                "capacity": caps.get(r["agent_id"], default_cap),
            }
        )
    if caps:
        from django.contrib.auth import get_user_model

        for u in get_user_model().objects.filter(pk__in=[k for k in caps if k not in seen]):
            out.append(
                {"agent_id": u.pk, "name": u.display_name or u.username, "active": 0, "capacity": caps[u.pk]}
            )
    from okwallet.chat.models import AgentChatState

    auto = set(
        AgentChatState.objects.filter(user_id__in=[r["agent_id"] for r in out], auto_accept=True).values_list(
            "user_id", flat=True
        )
    )
    for row in out:
        row["auto_accept"] = row["agent_id"] in auto
    return out


def live_overview() -> dict:
    now = now_utc()
    queued = list(waiting().select_related("customer")[:200])
    active = list(
        Conversation.objects.filter(status=Conversation.Status.ACTIVE)
        .select_related("customer", "agent")
        .order_by("accepted_at")[:200]
    )
    return {
        "waiting": [{"conv": c, "waiting_s": int((now - c.queued_at).total_seconds())} for c in queued],
        "active": active,
        "loads": agent_loads(),
        "waiting_count": len(queued),
        "longest_wait_s": max((int((now - c.queued_at).total_seconds()) for c in queued), default=0),
    }


def live_chat_for_ticket(ticket) -> Conversation | None:
    """The open chat a ticket reply should go to: one linked to the ticket, else the customer's
    open chat. (mail skips emailing a reply that chat delivers live.)"""
    open_chats = Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES).order_by("-id")
    number = getattr(ticket, "number", "")
    conv = open_chats.filter(ticket_number=number).first() if number else None
    if conv is None and getattr(ticket, "customer_id", None):
        conv = open_chats.filter(customer_id=ticket.customer_id).first()
    return conv
