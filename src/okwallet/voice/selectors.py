"""Hotline reads: queue positions and wait estimates, call logs, supervisor figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from okwallet.accounts.roles import SENIOR_MANAGER
from okwallet.core.timeutil import SHANGHAI, now_utc
from okwallet.voice import conf, integrations
from okwallet.voice.models import AgentLine, Call, CallbackRequest, Voicemail

DEFAULT_HANDLE_S = 300.0


@dataclass(frozen=True)
class QueueEstimate:
    queue: str
    ahead: int  # callers ahead of this one (0 = next)
    servers: int  # agents available now for this queue
    busy: int  # of whom on a call
    mean_handle_s: float
    wait_s: float  # math.inf when nobody can answer

    @property
    def wait_minutes(self) -> int:
        return max(1, math.ceil(self.wait_s / 60)) if math.isfinite(self.wait_s) else 0


def _ready_lines(queue: str):
    lines = AgentLine.objects.filter(ready=True, agent__is_active=True)
    if queue == "complaints":
        lines = lines.filter(agent__groups__name=SENIOR_MANAGER)
    return lines


def _cached(key: str, seconds: int, compute):
    from django.core.cache import cache

    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def agents_for_queue(queue: str) -> tuple[int, int]:
    """(servers, busy) for ``queue``, cached for 2 s: announcements are polled by every waiting caller."""
    return tuple(_cached(f"voice:agents:{queue}", 2, lambda: _agents_for_queue(queue)))


def _agents_for_queue(queue: str) -> tuple[int, int]:
    """(servers, busy): agents ready on the phone now for ``queue``, and how many are on a call.

    The console's ready toggle is the phone state; when nobody has set one yet, helpdesk's
    presence (agents online for the queue) stands in, all counted as busy (conservative).
    """
    lines = _ready_lines(queue)
    servers = lines.count()
    if servers:
        return servers, lines.filter(current_call__isnull=False).count()
    from okwallet.voice.services import QUEUES

    online = integrations.agents_available(QUEUES.get(queue, (None, None))[1])
    if online:
        return len(online), len(online)
    return 0, 0


def mean_handle_seconds(queue: str, *, now: datetime | None = None, limit: int = 200) -> float:
    """Recent handle time (answered → ended) of the queue's calls, last 7 days; 300 s by default.

    Cached for 30 s per queue (a rolling mean over up to 200 calls hardly moves in that time).
    """
    if now is None:
        return _cached(
            f"voice:aht:{queue}", 30, lambda: _mean_handle_seconds(queue, now=now_utc(), limit=limit)
        )
    return _mean_handle_seconds(queue, now=now, limit=limit)


def _mean_handle_seconds(queue: str, *, now: datetime, limit: int) -> float:
    rows = list(
        Call.objects.filter(
            queue=queue,
            answered_at__isnull=False,
            ended_at__isnull=False,
            ended_at__gte=now - timedelta(days=7),
        )
        .order_by("-ended_at")
        .values_list("answered_at", "ended_at")[:limit]
    )
    durations = [(end - start).total_seconds() for start, end in rows if end > start]
    if len(durations) < 5:
        return float(conf.get("OKWALLET_VOICE_DEFAULT_HANDLE_S") or DEFAULT_HANDLE_S)
    return max(10.0, sum(durations) / len(durations))


def waiting_calls(queue: str | None = None):
    qs = Call.objects.filter(status=Call.Status.QUEUED)
    if queue:
        qs = qs.filter(queue=queue)
    return qs.order_by("-priority", "queued_at", "id")


def position_in_queue(call: Call) -> int:
    """How many callers are ahead: priority callers first, then by time of joining."""
    if call.status != Call.Status.QUEUED or call.queued_at is None:
        return 0
    earlier = Q(queued_at__lt=call.queued_at) | Q(queued_at=call.queued_at, pk__lt=call.pk)
    ahead = Q(priority=True) & earlier
    if not call.priority:
        ahead = Q(priority=True) | (Q(priority=False) & earlier)
    return waiting_calls(call.queue).filter(ahead).exclude(pk=call.pk).count()


def queue_estimate(call: Call, *, now: datetime | None = None) -> QueueEstimate:
    from okwallet.voice.estimator import position_wait_seconds

    queue = call.queue or "person"
    ahead = position_in_queue(call)
    servers, busy = agents_for_queue(queue)
    handle = mean_handle_seconds(queue)
    wait = position_wait_seconds(position=ahead, servers=servers, mean_handle_s=handle, busy=busy)
    return QueueEstimate(queue, ahead, servers, busy, handle, wait)


def calls_for_customer(user, *, limit: int = 20):
    return Call.objects.filter(customer=user).select_related("agent").order_by("-started_at")[:limit]


def calls_for_agent(user, *, limit: int = 50):
    return Call.objects.filter(agent=user).select_related("customer").order_by("-started_at")[:limit]


def call_search(*, q: str = "", status: str = "", queue: str = "", agent=None):
    qs = Call.objects.select_related("customer", "agent").order_by("-started_at", "-id")
    if status:
        qs = qs.filter(status=status)
    if queue:
        qs = qs.filter(queue=queue)
    if agent is not None:
        qs = qs.filter(agent=agent)
    q = (q or "").strip()
    if q:
        digits = "".join(ch for ch in q if ch.isdigit())
        cond = Q(call_sid__iexact=q) | Q(ticket_number__iexact=q) | Q(customer__public_id=q)
        if len(digits) >= 4:
            cond |= Q(from_number__endswith=digits[-11:]) | Q(reference__icontains=digits)
        qs = qs.filter(cond)
    return qs


def callbacks_open():
    return CallbackRequest.objects.filter(status__in=CallbackRequest.OPEN).select_related(
        "customer", "assigned_to", "call"
    )


def voicemails_recent(limit: int = 50):
    return Voicemail.objects.select_related("call", "call__customer")[:limit]


def outbound_caller_ids() -> list[str]:
    """The numbers our outbound calls (callbacks) show; the antifraud verifier treats them as ours.

    ``OKWALLET_VOICE_OUTBOUND_CALLER_IDS`` (comma-separated) overrides; the default is the
    official outbound number from the contact source.
    """
    configured = conf.get("OKWALLET_VOICE_OUTBOUND_CALLER_IDS")
    if isinstance(configured, str):
        configured = configured.split(",")
    numbers = [n.strip() for n in configured or [] if n.strip()]
    if numbers:
        return numbers
    from okwallet.contact.models import OfficialIdentity

    return list(
        OfficialIdentity.objects.filter(kind="phone", note_en__icontains="outbound").values_list(
            "value", flat=True
        )
    )


@dataclass(frozen=True)
class Figures:
    waiting: int
    longest_wait_s: int
    offered: int
    answered: int
    abandoned: int
    service_level: float | None  # answered within 20 s of queueing / calls that queued
    person_within_60: float | None  # reached a person within 60 s of asking / calls that asked
    callbacks_open: int
    voicemails_today: int
    by_hour: list[int]
    callbacks_queued: int = 0
    callbacks_dialling: int = 0
    callbacks_connected: int = 0
    callbacks_retrying: int = 0
    callbacks_done_today: int = 0
    callbacks_failed_today: int = 0


def callback_counts(*, since: datetime) -> dict[str, int]:
    """Open callbacks by state, and those done / failed since ``since`` (one grouped query)."""
    from django.db.models import Count

    rows = (
        CallbackRequest.objects.filter(Q(status__in=CallbackRequest.OPEN) | Q(done_at__gte=since))
        .values("status")
        .annotate(n=Count("id"))
    )
    counts = {row["status"]: row["n"] for row in rows}
    return counts


def supervisor_figures(*, now: datetime | None = None) -> Figures:
    """Today's (Asia/Shanghai) hotline figures for the supervisor dashboard.

    Service level: of the calls that joined a queue today and were answered or abandoned
    after 20 s, the share answered within 20 s (short abandons under 20 s are excluded, the
    usual contact-centre convention). Person within 60 s: of the calls that asked for a
    person, the share connected within 60 s of asking — the regulators' dial-test figure.

    Callback legs (outbound calls) are not counted as calls offered; their callbacks have figures
    of their own.
    """
    now = now or now_utc()
    local = now.astimezone(SHANGHAI)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = Call.objects.filter(started_at__gte=start, direction="inbound")
    waiting = list(waiting_calls().values_list("queued_at", flat=True))
    longest = max((int((now - t).total_seconds()) for t in waiting if t), default=0)
    queued = list(
        today.filter(queued_at__isnull=False).values_list("queued_at", "answered_at", "ended_at", "status")
    )
    sl_num = sl_den = 0
    abandoned = 0
    for queued_at, answered_at, ended_at, status in queued:
        if answered_at is not None:
            sl_den += 1
            if (answered_at - queued_at).total_seconds() <= 20:
                sl_num += 1
        elif status == Call.Status.ENDED:
            abandoned += 1
            if ended_at and (ended_at - queued_at).total_seconds() > 20:
                sl_den += 1
    asked = list(
        today.filter(asked_person_at__isnull=False).values_list("asked_person_at", "answered_at", "status")
    )
    p_num = p_den = 0
    for asked_at, answered_at, status in asked:
        if answered_at is None and status != Call.Status.ENDED and (now - asked_at).total_seconds() <= 60:
            continue  # still within its first minute: not decided yet
        p_den += 1
        if answered_at is not None and (answered_at - asked_at).total_seconds() <= 60:
            p_num += 1
    by_hour = [0] * 24
    for started in today.values_list("started_at", flat=True):
        by_hour[started.astimezone(SHANGHAI).hour] += 1
    cb = callback_counts(since=start)
    return Figures(
        waiting=len(waiting),
        longest_wait_s=longest,
        offered=today.count(),
        answered=today.filter(answered_at__isnull=False).count(),
        abandoned=abandoned,
        service_level=(sl_num / sl_den) if sl_den else None,
        person_within_60=(p_num / p_den) if p_den else None,
        callbacks_open=sum(cb.get(status, 0) for status in CallbackRequest.OPEN),
        voicemails_today=Voicemail.objects.filter(created_at__gte=start).count(),
        by_hour=by_hour,
        callbacks_queued=cb.get(CallbackRequest.Status.QUEUED, 0),
        callbacks_dialling=cb.get(CallbackRequest.Status.DIALLING, 0),
        callbacks_connected=cb.get(CallbackRequest.Status.CONNECTED, 0),
        callbacks_retrying=cb.get(CallbackRequest.Status.NO_ANSWER, 0),
        callbacks_done_today=cb.get(CallbackRequest.Status.DONE, 0),
        callbacks_failed_today=cb.get(CallbackRequest.Status.FAILED, 0),
    )
