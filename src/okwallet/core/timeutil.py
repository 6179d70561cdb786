"""Aware datetimes in UTC in the database; Asia/Shanghai for people."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    return datetime.now(tz=UTC)


def to_local(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: store and pass aware datetimes only")
    return moment.astimezone(SHANGHAI)


def format_local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else to_local(moment).strftime(fmt)
