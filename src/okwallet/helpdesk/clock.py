"""The one place helpdesk asks for business-time arithmetic.

``okwallet.hours.businesstime`` owns China's calendar and the schedules. Until it is installed
this falls back to a plain rule (weekdays 09:00–18:00 Asia/Shanghai, ``security`` 24/7) so SLAs
keep working; the fallback is exact minute arithmetic, not an approximation.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from importlib import import_module
from importlib.util import find_spec

from okwallet.core.timeutil import SHANGHAI

OPEN_AT = time(9, 0)
CLOSE_AT = time(18, 0)
ALWAYS_OPEN = {"security"}


def _hours():
    if find_spec("okwallet.hours.businesstime") is None:
        return None
    module = import_module("okwallet.hours.businesstime")
    if not hasattr(module, "add_business_minutes"):
        return None
    return module


def _is_workday(day) -> bool:
    return day.weekday() < 5


def _fallback_add(schedule: str, start: datetime, minutes: int) -> datetime:
    if schedule in ALWAYS_OPEN:
        return start + timedelta(minutes=minutes)
    local = start.astimezone(SHANGHAI)
    remaining = timedelta(minutes=minutes)
    while True:
        day = local.date()
        opens = datetime.combine(day, OPEN_AT, SHANGHAI)
        closes = datetime.combine(day, CLOSE_AT, SHANGHAI)
        if _is_workday(day) and local < closes:
            begin = max(local, opens)
            if begin + remaining <= closes:
                return begin + remaining
            remaining -= closes - begin
        local = datetime.combine(day + timedelta(days=1), time(0, 0), SHANGHAI)


def _fallback_between(schedule: str, start: datetime, end: datetime) -> int:
    if end <= start:
        return 0
    if schedule in ALWAYS_OPEN:
        return int((end - start).total_seconds() // 60)
    total = timedelta()
    local = start.astimezone(SHANGHAI)
    end_local = end.astimezone(SHANGHAI)
    while local < end_local:
        day = local.date()
        opens = datetime.combine(day, OPEN_AT, SHANGHAI)
        closes = datetime.combine(day, CLOSE_AT, SHANGHAI)
        if _is_workday(day):
            begin, finish = max(local, opens), min(end_local, closes)
            if finish > begin:
                total += finish - begin
        local = datetime.combine(day + timedelta(days=1), time(0, 0), SHANGHAI)
    return int(total.total_seconds() // 60)


def add_business_minutes(schedule: str, start: datetime, minutes: int) -> datetime:
    hours = _hours()
    if hours is not None:
        return hours.add_business_minutes(schedule, start, minutes)
    return _fallback_add(schedule, start, minutes)


def business_minutes_between(schedule: str, start: datetime, end: datetime) -> int:
    hours = _hours()
    if hours is not None:
        return hours.business_minutes_between(schedule, start, end)
    return _fallback_between(schedule, start, end)


def add_working_days(start: datetime, days: int) -> datetime:
    """End of service hours on the N-th working day after ``start`` (the promise we make)."""
    hours = _hours()
    if hours is not None and hasattr(hours, "add_working_days"):
        return hours.add_working_days(start, days)
    day = start.astimezone(SHANGHAI).date()
    count = 0
    while count < days:
        day += timedelta(days=1)
        if _is_workday(day):
            count += 1
    return datetime.combine(day, CLOSE_AT, SHANGHAI)


def add_calendar_days_end(start: datetime, days: int) -> datetime:
    """End of the N-th calendar day after ``start`` (23:59:59 Shanghai), for the 15/30-day rule."""
    day = start.astimezone(SHANGHAI).date() + timedelta(days=days)
    return datetime.combine(day, time(23, 59, 59), SHANGHAI)
