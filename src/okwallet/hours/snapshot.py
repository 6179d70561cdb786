"""An in-process, read-only copy of the schedules and the calendar, shared-cache invalidated.

Business-time arithmetic asks about many days in a row, so it works on a plain-Python snapshot
instead of querying per day. Several app processes and workers each keep their own snapshot;
saving or deleting a schedule, period or calendar row writes a new version token into the shared
cache (Redis in production), and every process reloads when it sees a token other than its own.
A process asks the shared cache at most once a second (``RECHECK_SECONDS``), so staying fresh
costs next to nothing per call; a change is seen at once in the process that made it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)
VERSION_KEY = "hours:snapshot-version"
WORKDAY, WEEKEND, HOLIDAY = "workday", "weekend", "holiday"
DAY_TYPES = (WORKDAY, WEEKEND, HOLIDAY)
FULL_DAY = ((0, 24 * 60),)


@dataclass(frozen=True)
class CompiledSchedule:
    code: str
    name_zh: str
    name_en: str
    always_open: bool
    # day type -> sorted, merged (start_minute, end_minute) pairs; end may be 1440 (midnight)
    periods: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    note_zh: str = ""
    note_en: str = ""
    order: int = 10

    def intervals(self, day_type: str) -> tuple[tuple[int, int], ...]:
        return FULL_DAY if self.always_open else self.periods.get(day_type, ())

    @property
    def has_open_time(self) -> bool:
        return self.always_open or any(self.periods.values())


@dataclass(frozen=True)
class CalendarOverride:
    kind: str  # "holiday" | "workday"
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Snapshot:
    schedules: dict[str, CompiledSchedule]
    overrides: dict[date, CalendarOverride]
    known_years: frozenset[int]


def merge(pairs) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for start, end in sorted(p for p in pairs if p[1] > p[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def compile_schedule(row, periods=None) -> CompiledSchedule:
    """``row`` is a Schedule; ``periods`` its SchedulePeriod rows (read from the row when omitted)."""
    periods = list(row.periods.all()) if periods is None else periods
    by_type = {
        t: merge((p.start_minute, p.end_minute) for p in periods if p.day_type == t) for t in DAY_TYPES
    }
    return CompiledSchedule(
        code=row.code,
        name_zh=row.name_zh,
        name_en=row.name_en,
        always_open=row.always_open,
        periods=by_type,
        note_zh=row.note_zh,
        note_en=row.note_en,
        order=row.order,
    )


def fallback_schedule(code: str) -> CompiledSchedule:
    """The plain rule for a code with no row (weekdays 09:00–18:00; the default 24/7 lines stay 24/7)."""
    from okwallet.hours.defaults import SCHEDULES

    for spec in SCHEDULES:
        if spec["code"] == code:
            return CompiledSchedule(
                code=code,
                name_zh=spec["name_zh"],
                name_en=spec["name_en"],
                always_open=spec["always_open"],
                periods={
                    t: merge(
                        (s.hour * 60 + s.minute, e.hour * 60 + e.minute or 1440)
                        for s, e in spec["periods"].get(t, ())
                    )
                    for t in DAY_TYPES
                },
                note_zh=spec["note_zh"],
                note_en=spec["note_en"],
                order=spec["order"],
            )
    return CompiledSchedule(
        code=code, name_zh=code, name_en=code, always_open=False, periods={WORKDAY: ((540, 1080),)}
    )


def _load() -> Snapshot:
    from okwallet.hours.models import CalendarDay, CalendarYear, Schedule

    schedules = {row.code: compile_schedule(row) for row in Schedule.objects.prefetch_related("periods")}
    overrides = {
        day: CalendarOverride(kind, zh, en)
        for day, kind, zh, en in CalendarDay.objects.values_list("date", "kind", "name_zh", "name_en")
    }
    years = frozenset(CalendarYear.objects.values_list("year", flat=True))
    return Snapshot(schedules=schedules, overrides=overrides, known_years=years)


_lock = threading.Lock()
_current: tuple[str, Snapshot] | None = None
_checked_at = -1e9
# How long a process trusts its snapshot before asking the shared cache again. A change made in
# this process is seen at once; one made in another process within this many seconds.
RECHECK_SECONDS = 1.0


def current() -> Snapshot:
    global _current, _checked_at
    held = _current
    now = time.monotonic()
    if held is not None and now - _checked_at < RECHECK_SECONDS:
        return held[1]
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY) or "local"
    _checked_at = now
    if held is not None and held[0] == version:
        return held[1]
    with _lock:
        try:
            snapshot = _load()
        except Exception:  # no database yet (before migrate) or unreachable: plain rules, not a crash
            logger.warning("hours: schedules unavailable, using the built-in defaults", exc_info=True)
            return Snapshot(schedules={}, overrides={}, known_years=frozenset())
        _current = (version, snapshot)
    return snapshot


def forget() -> None:
    """Drops this process's copy (tests call it between tests: a rolled-back change sends no signal)."""
    global _current
    _current = None


def invalidate() -> None:
    """Every process reloads on its next call. Also after commit, so a reader that loaded the
    uncommitted state in between does not keep it."""
    global _current
    _current = None
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    transaction.on_commit(lambda: cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None))
