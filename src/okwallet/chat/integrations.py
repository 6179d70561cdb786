"""Calls into the apps chat builds on (kb, hours, helpdesk, accounts), each guarded.

Those apps are written at the same time as chat; until one lands (or while its tables are
missing) chat degrades: no bot answer → offer a person; no hours → open; no helpdesk → the
transcript stays in chat only; no presence → count the agents actually chatting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import import_module
from importlib.util import find_spec

from django.db import connection

log = logging.getLogger(__name__)


def _module(name: str):
    try:
        if find_spec(name) is None:
            return None
        return import_module(name)
    except ImportError:
        return None


@cache
def _table_exists(table: str) -> bool:
    try:
        return table in connection.introspection.table_names()
    except Exception:  # noqa: BLE001 - no database yet: treat as missing
        return False


def helpdesk_ready() -> bool:
    return _module("okwallet.helpdesk.services") is not None and _table_exists("helpdesk_ticket")


def reset_caches() -> None:
    _table_exists.cache_clear()


@dataclass(frozen=True)
class BotReply:
    answer: str
    title: str
    url: str
    slug: str
    confidence: float
    confident: bool


def bot_answer(text: str, *, lang: str) -> BotReply | None:
    kb = _module("okwallet.kb.services")
    func = getattr(kb, "bot_answer", None) if kb else None
    if func is None:
        return None
    try:
        got = func(text=text, lang=lang)
    except Exception:  # noqa: BLE001 - the bot must never break the chat; a person is offered
        log.exception("kb.bot_answer failed")
        return None
    if got is None:
        return None
    return BotReply(
        answer=str(getattr(got, "answer", "") or ""),
        title=str(getattr(got, "title", "") or ""),
        url=str(getattr(got, "url", "") or ""),
        slug=str(getattr(got, "slug", "") or ""),
        confidence=float(getattr(got, "confidence", 0.0) or 0.0),
        confident=bool(getattr(got, "confident", False)),
    )


@dataclass(frozen=True)
class Hours:
    is_open: bool
    next_open: datetime | None
    next_close: datetime | None


def chat_hours(at: datetime | None = None) -> Hours:
    hours = _module("okwallet.hours.selectors")
    func = getattr(hours, "channel_status", None) if hours else None
    if func is None:
        return Hours(True, None, None)
    try:
        status = func("chat", at=at)
    except Exception:  # noqa: BLE001 - unknown hours: stay open rather than turn people away
        log.exception("hours.channel_status failed")
        return Hours(True, None, None)
    return Hours(bool(status.is_open), status.next_open, status.next_close)


def customer_age(user) -> int | None:
    if user is None:
        return None
    sel = _module("okwallet.accounts.selectors")
    func = getattr(sel, "customer_age", None) if sel else None
    if func is None:
        return None
    try:
        return func(user)
    except Exception:  # noqa: BLE001
        log.exception("accounts.customer_age failed")
        return None


def agent_capacities() -> dict[int, int] | None:
    """{agent id: chat capacity} of agents online now, or None when presence is not available."""
    if not (_module("okwallet.helpdesk.models") and _table_exists("helpdesk_agentpresence")):
        return None
    from okwallet.helpdesk.models import AgentPresence

    rows = AgentPresence.objects.filter(status="online").values_list("user_id", "chat_capacity")
    return {uid: cap for uid, cap in rows}


def agent_capacity(user, default: int) -> int:
    if not (_module("okwallet.helpdesk.models") and _table_exists("helpdesk_agentpresence")):
        return default
    from okwallet.helpdesk.models import AgentPresence

    row = AgentPresence.objects.filter(user=user).values_list("chat_capacity", flat=True).first()
    return default if row is None else int(row)


def _presence_ready() -> bool:
    return bool(_module("okwallet.helpdesk.models") and _table_exists("helpdesk_agentpresence"))


def category_queues() -> dict[str, str] | None:
    """helpdesk's category → queue code table (None without helpdesk)."""
    services = _module("okwallet.helpdesk.services") if helpdesk_ready() else None
    table = getattr(services, "CATEGORY_QUEUE", None) if services else None
    return {str(k): str(v) for k, v in table.items()} if table else None


def queue_names() -> dict[str, tuple[str, str]] | None:
    """helpdesk's queue names: {code: (Chinese, English)} (None without helpdesk)."""
    services = _module("okwallet.helpdesk.services")
    table = getattr(services, "QUEUES", None) if services else None
    return {str(k): (str(v[0]), str(v[1])) for k, v in table.items()} if table else None


def presence_statuses(user_ids) -> dict[int, str] | None:
    """{user id: "online" | "away" | "offline"} (missing: no presence row), None without presence."""
    if not _presence_ready():
        return None
    from okwallet.helpdesk.models import AgentPresence

    return dict(AgentPresence.objects.filter(user_id__in=list(user_ids)).values_list("user_id", "status"))


def presence_go_online(user) -> None:
    """Mark an agent online in helpdesk presence (an agent who turns on chat auto-accept is working)."""
    if not _presence_ready():
        return
    from okwallet.helpdesk.models import AgentPresence
    from okwallet.helpdesk.services import presence_set

    current = AgentPresence.objects.filter(user=user).values_list("status", flat=True).first()
    if current != "online":
        presence_set(user=user, status="online")


def agent_chat_queues(users) -> dict[int, set[str] | None]:
    """{user id: the queue codes whose chats they may be given automatically}; None = any queue.

    A member of helpdesk queues takes those queues' chats, as far as the helpdesk lets them work
    the queue (complaints: senior managers); someone in no queue takes every queue that is not
    restricted, and the restricted ones the helpdesk lets them work. Without helpdesk (or its
    queues) everyone takes every queue."""
    users = list(users)
    if not helpdesk_ready():
        return {u.pk: None for u in users}
    from okwallet.helpdesk.models import Queue
    from okwallet.helpdesk.routing import can_work_queue

    queues = list(Queue.objects.prefetch_related("members").order_by("id"))
    if not queues:  # helpdesk has not set up its queues yet
        return {u.pk: None for u in users}
    out: dict[int, set[str] | None] = {}
    for user in users:
        member_of = [q for q in queues if any(m.pk == user.pk for m in q.members.all())]
        if member_of:
            out[user.pk] = {q.code for q in member_of if can_work_queue(user, q)}
        else:
            out[user.pk] = {q.code for q in queues if not q.restricted or can_work_queue(user, q)}
    return out


def ticket_create(**kwargs):
    if not helpdesk_ready():
        return None
    from okwallet.helpdesk.services import ticket_create as create

    return create(**kwargs)


def ticket_add_message(**kwargs):
    if not helpdesk_ready():
        return None
    from okwallet.helpdesk.services import ticket_add_message as add

    return add(**kwargs)


def ticket_by_number(number: str):
    if not number or not helpdesk_ready():
        return None
    sel = _module("okwallet.helpdesk.selectors")
    func = getattr(sel, "ticket_by_number", None) if sel else None
    if func is not None:
        return func(number)
    from okwallet.helpdesk.models import Ticket

    return Ticket.objects.filter(number=number).first()


def customer_360_context(user, *, viewer) -> dict | None:
    if user is None or not helpdesk_ready():
        return None
    sel = _module("okwallet.helpdesk.selectors")
    func = getattr(sel, "customer_360", None) if sel else None
    if func is None:
        return None
    try:
        from django.template.loader import get_template

        get_template("helpdesk/_customer_360.html")
        ctx = func(user, viewer=viewer)
    except Exception:  # noqa: BLE001 - the chat pane works without the 360 panel
        log.exception("helpdesk.customer_360 failed")
        return None
    return ctx if isinstance(ctx, dict) else None
