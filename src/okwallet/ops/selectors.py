"""The system-status checks shown to supervisors (and the figures /metrics exports)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from okwallet.core.timeutil import now_utc

logger = logging.getLogger(__name__)
OK, WARN, ERROR, OFF = "ok", "warn", "error", "off"
WORKER_LATE_S, WORKER_DEAD_S = 150, 600
BACKLOG_WARN, BACKLOG_ERROR = 100, 1000


@dataclass
class Check:
    name: str
    label: str
    status: str
    detail: str = ""
    at: datetime | None = None
    latency_ms: float | None = None
    figures: dict = field(default_factory=dict)


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round((time.perf_counter() - started) * 1000, 2)


def check_database() -> Check:
    def probe():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0]

    try:
        _v, ms = _timed(probe)
    except Exception as exc:
        return Check("database", _("Database"), ERROR, f"{type(exc).__name__}: {exc}"[:200])
    detail = f"{connection.vendor} · {connection.settings_dict.get('NAME')}"
    return Check("database", _("Database"), OK if ms < 200 else WARN, str(detail), latency_ms=ms)


def check_redis() -> Check:
    if not settings.REDIS_URL:
        return Check(
            "redis", "Redis", OFF, _("Not configured: embedded mode (in-process cache, Huey on SQLite).")
        )
    try:
        from okwallet.core import redis_client

        client = redis_client.get()
        _v, ms = _timed(client.ping)
        info = client.info("memory")
        clients = client.info("clients").get("connected_clients")
    except Exception as exc:
        return Check("redis", "Redis", ERROR, f"{type(exc).__name__}: {exc}"[:200])
    detail = _("%(mem)s used, %(clients)s clients") % {
        "mem": info.get("used_memory_human", "?"),
        "clients": clients,
    }
    return Check("redis", "Redis", OK if ms < 100 else WARN, detail, latency_ms=ms)


def job_backlog() -> dict:
    from huey.contrib.djhuey import HUEY

    return {"pending": HUEY.pending_count(), "scheduled": HUEY.scheduled_count()}


def check_jobs() -> Check:
    try:
        backlog = job_backlog()
    except Exception as exc:
        return Check("jobs", _("Job queue"), ERROR, f"{type(exc).__name__}: {exc}"[:200])
    pending = backlog["pending"]
    status = ERROR if pending >= BACKLOG_ERROR else WARN if pending >= BACKLOG_WARN else OK
    detail = _("%(pending)s waiting, %(scheduled)s scheduled for later") % backlog
    return Check("jobs", _("Job queue"), status, detail, figures=backlog)


def worker_heartbeat_age(now: datetime | None = None) -> float | None:
    from okwallet.ops.models import Heartbeat

    beat = Heartbeat.objects.filter(name="worker").first()
    if beat is None:
        return None
    return max(0.0, ((now or now_utc()) - beat.at).total_seconds())


def check_worker(now: datetime | None = None) -> Check:
    from okwallet.ops.models import Heartbeat

    beat = Heartbeat.objects.filter(name="worker").first()
    if beat is None:
        return Check("worker", _("Job worker"), WARN, _("No heartbeat yet: is `manage.py run_huey` running?"))
    age = ((now or now_utc()) - beat.at).total_seconds()
    status = OK if age < WORKER_LATE_S else WARN if age < WORKER_DEAD_S else ERROR
    detail = _("last heartbeat %(age)s s ago") % {"age": int(age)}
    host = beat.details.get("host")
    if host:
        detail += f" ({host}, pid {beat.details.get('pid')})"
    return Check("worker", _("Job worker"), status, detail, at=beat.at)


def check_outbox(now: datetime | None = None) -> Check:
    from okwallet.core.models import Notification

    now = now or now_utc()
    stuck = Notification.objects.filter(
        status=Notification.Status.QUEUED, created_at__lt=now - timedelta(minutes=5)
    ).count()
    failed = Notification.objects.filter(
        status=Notification.Status.FAILED, created_at__gte=now - timedelta(hours=24)
    ).count()
    status = ERROR if stuck >= 50 else WARN if stuck or failed else OK
    detail = _("%(stuck)s waiting over 5 minutes, %(failed)s failed in 24 h") % {
        "stuck": stuck,
        "failed": failed,
    }
    return Check(
        "outbox",
        _("Notifications (SMS, email, in-app)"),
        status,
        detail,
        figures={"stuck": stuck, "failed": failed},
    )


def check_calendar() -> Check:
    from okwallet.hours.businesstime import missing_calendar_years

    years = missing_calendar_years()
    if years:
        return Check(
            "calendar",
            _("Holiday calendar"),
            WARN,
            _("Missing for %(years)s: the weekday rule applies") % {"years": ", ".join(map(str, years))},
        )
    return Check("calendar", _("Holiday calendar"), OK, _("Entered for the coming months"))


def channel_lines() -> list[Check]:
    from django.utils.translation import get_language

    from okwallet.hours.selectors import channel_status, schedules

    english = (get_language() or "").startswith("en")
    lines = []
    for s in schedules():
        st = channel_status(s.code)
        if st.always_open:
            detail = _("Open 24/7")
        elif st.is_open:
            detail = _("until %(t)s") % {"t": f"{st.next_close:%m-%d %H:%M}"}
        else:
            detail = (
                _("reopens %(t)s") % {"t": f"{st.next_open:%m-%d %H:%M}"}
                if st.next_open
                else pgettext("channel", "Closed")
            )
        lines.append(
            Check(f"channel:{s.code}", s.name_en if english else s.name_zh, OK if st.is_open else OFF, detail)
        )
    return lines


def hook_lines() -> list[Check]:
    """Lines other apps contribute through ``hooks.system_status()`` (last IMAP poll, last
    reconciliation, payment-channel health...). A failing hook shows as an error line."""
    from okwallet.core.hooks import _implementations

    lines = []
    for func in _implementations("system_status"):
        try:
            rows = func() or []
        except Exception as exc:
            logger.exception("system_status hook %s failed", func.__module__)
            lines.append(Check(func.__module__, func.__module__, ERROR, f"{type(exc).__name__}: {exc}"[:200]))
            continue
        for row in rows:
            lines.append(
                Check(
                    str(row.get("name", func.__module__)),
                    str(row.get("label") or row.get("name", "")),
                    row.get("status", OK) if row.get("status") in (OK, WARN, ERROR, OFF) else WARN,
                    str(row.get("detail", "")),
                    at=row.get("at"),
                )
            )
    return lines


def system_status() -> dict:
    services = [
        check_database(),
        check_redis(),
        check_jobs(),
        check_worker(),
        check_outbox(),
        check_calendar(),
    ]
    contributed = hook_lines()
    everything = services + contributed
    worst = (
        ERROR
        if any(c.status == ERROR for c in everything)
        else WARN
        if any(c.status == WARN for c in everything)
        else OK
    )
    return {
        "overall": worst,
        "services": services,
        "contributed": contributed,
        "channels": channel_lines(),
        "at": now_utc(),
    }
