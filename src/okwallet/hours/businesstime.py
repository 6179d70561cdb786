"""Business-time arithmetic on the service schedules and China's working calendar.

The one module that answers: is a channel open at a moment, when does it next open or close,
what moment is N business minutes after another, how much business time lies between two
moments, is a date a working day, and what is the end of service on the N-th working day.

Conventions (the consumers — SLAs, reply promises, chat and hotline — rely on them):

* ``schedule`` is a schedule code (``hotline``, ``chat``, ``email``, ``complaints``,
  ``security`` or a team's own) or a ``Schedule`` row. An unknown code falls back to weekdays
  09:00–18:00; nothing here raises for missing data.
* Moments are aware datetimes (any zone; naive ones are refused with ``ValueError``); results
  are aware datetimes in Asia/Shanghai. Periods are half-open: a 09:00–18:00 line is open at
  09:00:00 and closed at 18:00:00. A 24/7 schedule is open at every instant, midnight included.
* A day is a holiday or a make-up working day (调休) when the calendar says so, otherwise a
  workday Monday to Friday and a weekend day on Saturday and Sunday. A year with no entered
  calendar (``missing_calendar_years``) follows that plain weekday rule.
* ``add_business_minutes(s, t, 0) == t``; for m > 0 the result is the moment the m-th open
  minute after ``t`` ends, so ``business_minutes_between(s, t, add_business_minutes(s, t, m)) == m``.
  ``business_minutes_between`` counts whole minutes and is 0 when ``end <= start``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from okwallet.core.timeutil import SHANGHAI, now_utc
from okwallet.hours import snapshot as _snap
from okwallet.hours.snapshot import HOLIDAY, WEEKEND, WORKDAY, CompiledSchedule, Snapshot

# How far ahead to look for an opening before deciding a schedule never opens (a schedule with
# no periods at all); far beyond any real closure (the longest, Spring Festival, is 9 days).
HORIZON_DAYS = 400
DEFAULT_CLOSE = time(18, 0)

__all__ = [
    "add_business_minutes",
    "add_working_days",
    "business_minutes_between",
    "business_seconds_between",
    "day_type",
    "is_open",
    "is_working_day",
    "missing_calendar_years",
    "next_close",
    "next_open",
    "next_working_day",
    "open_intervals",
    "resolve",
]


# --- schedules and days --------------------------------------------------------------------


def resolve(schedule, snap: Snapshot | None = None) -> CompiledSchedule:
    """A code, a Schedule row or a compiled schedule → the compiled schedule (never raises)."""
    if isinstance(schedule, CompiledSchedule):
        return schedule
    if isinstance(schedule, str):
        snap = snap or _snap.current()
        return snap.schedules.get(schedule) or _snap.fallback_schedule(schedule)
    return _snap.compile_schedule(schedule)


def _day_type(day: date, snap: Snapshot) -> str:
    override = snap.overrides.get(day)
    if override is not None:
        return HOLIDAY if override.kind == "holiday" else WORKDAY
    return WORKDAY if day.weekday() < 5 else WEEKEND


def day_type(day: date) -> str:
    """``workday``, ``weekend`` or ``holiday`` for a calendar date (Asia/Shanghai)."""
    return _day_type(day, _snap.current())


def is_working_day(day: date | datetime) -> bool:
    """Is this a working day in China (make-up working days count; public holidays do not)?"""
    if isinstance(day, datetime):
        day = _local(day).date()
    return day_type(day) == WORKDAY


def next_working_day(day: date) -> date:
    """The first working day strictly after ``day``."""
    snap = _snap.current()
    day += timedelta(days=1)
    while _day_type(day, snap) != WORKDAY:
        day += timedelta(days=1)
    return day


def missing_calendar_years(*, at: datetime | None = None, horizon_days: int = 60) -> list[int]:
    """Years from this one to the one ``horizon_days`` ahead whose official calendar has not been
    entered (they follow the plain weekday rule until someone enters them)."""
    today = _local(at or now_utc()).date()
    last = (today + timedelta(days=horizon_days)).year
    known = _snap.current().known_years
    return [year for year in range(today.year, last + 1) if year not in known]


# --- intervals -----------------------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass aware datetimes only")
    return moment.astimezone(SHANGHAI)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _day_intervals(sched: CompiledSchedule, day: date, snap: Snapshot) -> Iterator[tuple[datetime, datetime]]:
    base = _midnight(day)
    for start, end in sched.intervals(_day_type(day, snap)):
        # Wall-clock minutes turned into UTC instants, so differences are true elapsed time.
        yield (
            (base + timedelta(minutes=start)).astimezone(UTC),
            (base + timedelta(minutes=end)).astimezone(UTC),
        )


def _intervals_from(
    sched: CompiledSchedule, start_day: date, snap: Snapshot, days: int = HORIZON_DAYS
) -> Iterator[tuple[datetime, datetime]]:
    for offset in range(days):
        yield from _day_intervals(sched, start_day + timedelta(days=offset), snap)


def _merged_from(
    sched: CompiledSchedule, start_day: date, snap: Snapshot, days: int = HORIZON_DAYS
) -> Iterator[tuple[datetime, datetime, bool]]:
    """Open runs joined across midnight; the flag says the run reached the horizon unbroken."""
    pending: tuple[datetime, datetime] | None = None
    for a, b in _intervals_from(sched, start_day, snap, days):
        if pending is not None and a <= pending[1]:
            pending = (pending[0], max(b, pending[1]))
            continue
        if pending is not None:
            yield pending[0], pending[1], False
        pending = (a, b)
    if pending is not None:
        yield pending[0], pending[1], True


def open_intervals(schedule, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The open runs overlapping [start, end), clipped to it, in Asia/Shanghai (for calendars and pages)."""
    snap = _snap.current()
    sched = resolve(schedule, snap)
    s, e = _local(start), _local(end)
    days = (e.date() - s.date()).days + 1
    out = []
    for a, b, _edge in _merged_from(sched, s.date(), snap, days):
        a, b = max(a, s), min(b, e)
        if a < b:
            out.append((a.astimezone(SHANGHAI), b.astimezone(SHANGHAI)))
    return out


# --- the questions ---------------------------------------------------------------------------


def is_open(schedule, at: datetime | None = None) -> bool:
    snap = _snap.current()
    sched = resolve(schedule, snap)
    if sched.always_open:
        return True
    local = _local(at or now_utc())
    moment = local.astimezone(UTC)
    return any(a <= moment < b for a, b in _day_intervals(sched, local.date(), snap))


def next_open(schedule, at: datetime | None = None) -> datetime | None:
    """The first moment at or after ``at`` when the schedule is open (``at`` itself when open now);
    ``None`` for a schedule with no opening within ``HORIZON_DAYS``."""
    snap = _snap.current()
    sched = resolve(schedule, snap)
    local = _local(at or now_utc())
    if sched.always_open:
        return local
    moment = local.astimezone(UTC)
    for a, b in _intervals_from(sched, local.date(), snap):
        if b > moment:
            return max(a, moment).astimezone(SHANGHAI)
    return None


def next_close(schedule, at: datetime | None = None) -> datetime | None:
    """When the open run containing ``at`` (or, when closed, the next one) ends; runs continue
    across midnight. ``None`` for 24/7 schedules and runs longer than the horizon."""
    snap = _snap.current()
    sched = resolve(schedule, snap)
    if sched.always_open:
        return None
    local = _local(at or now_utc())
    moment = local.astimezone(UTC)
    for _a, b, reached_horizon in _merged_from(sched, local.date(), snap):
        if b > moment:
            return None if reached_horizon else b.astimezone(SHANGHAI)
    return None


def add_business_minutes(schedule, start: datetime, minutes: int) -> datetime:
    """The moment when ``minutes`` of open time have passed since ``start``."""
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    local = _local(start)
    if minutes == 0:
        return local
    snap = _snap.current()
    sched = resolve(schedule, snap)
    if sched.always_open:
        return (local.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(SHANGHAI)
    if not sched.has_open_time:
        raise ValueError(f"schedule {sched.code!r} has no opening hours")
    moment = local.astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    day = local.date()
    empty_days = 0
    while True:
        any_open = False
        for a, b in _day_intervals(sched, day, snap):
            any_open = True
            if b <= moment:
                continue
            begin = max(a, moment)
            if begin + remaining <= b:
                return (begin + remaining).astimezone(SHANGHAI)
            remaining -= b - begin
        empty_days = 0 if any_open else empty_days + 1
        if empty_days > HORIZON_DAYS:  # e.g. only holiday hours, and no holidays entered
            raise ValueError(f"schedule {sched.code!r} does not open within {HORIZON_DAYS} days")
        day += timedelta(days=1)


def business_seconds_between(schedule, start: datetime, end: datetime) -> float:
    """Open time in [start, end), in seconds (0 when end <= start)."""
    s, e = _local(start).astimezone(UTC), _local(end).astimezone(UTC)
    if e <= s:
        return 0.0
    snap = _snap.current()
    sched = resolve(schedule, snap)
    if sched.always_open:
        return (e - s).total_seconds()
    total = timedelta()
    first, last = s.astimezone(SHANGHAI).date(), e.astimezone(SHANGHAI).date()
    day = first
    while day <= last:
        for a, b in _day_intervals(sched, day, snap):
            lo, hi = max(a, s), min(b, e)
            if lo < hi:
                total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds()


def business_minutes_between(schedule, start: datetime, end: datetime) -> int:
    """Whole minutes of open time in [start, end) (0 when end <= start)."""
    return int(business_seconds_between(schedule, start, end) // 60)


def _closing_time(sched: CompiledSchedule | None, day: date, snap: Snapshot) -> datetime:
    if sched is None:
        return datetime.combine(day, DEFAULT_CLOSE, SHANGHAI)
    intervals = sched.intervals(_day_type(day, snap))
    if not intervals:
        return datetime.combine(day, DEFAULT_CLOSE, SHANGHAI)
    return _midnight(day) + timedelta(minutes=intervals[-1][1])


def add_working_days(start: datetime, days: int, *, schedule=None) -> datetime:
    """End of service hours on the ``days``-th working day after ``start``'s date: the promise
    "2 个工作日内（12月3日 18:00 前）" for a message written on 1 December. ``days=0`` is the end of
    service today when today is a working day (otherwise on the next one). Service ends at 18:00
    unless a ``schedule`` is given, then at that schedule's last closing on that day."""
    if days < 0:
        raise ValueError("days must not be negative")
    snap = _snap.current()
    sched = None if schedule is None else resolve(schedule, snap)
    day = _local(start).date()
    if days == 0 and _day_type(day, snap) != WORKDAY:
        days = 1
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if _day_type(day, snap) == WORKDAY:
            counted += 1
    return _closing_time(sched, day, snap)
