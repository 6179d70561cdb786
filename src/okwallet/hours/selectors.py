"""Reads for pages and other apps: is a channel open now, when does it reopen, what are the hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from okwallet.core.timeutil import SHANGHAI, now_utc
from okwallet.hours import businesstime as bt
from okwallet.hours import snapshot as _snap
from okwallet.hours.snapshot import DAY_TYPES, HOLIDAY, CompiledSchedule

CHANNELS = ("hotline", "chat", "email", "complaints", "security")


@dataclass(frozen=True)
class ChannelStatus:
    channel: str
    is_open: bool
    always_open: bool
    next_open: datetime | None
    next_close: datetime | None


def channel_status(channel: str, *, at: datetime | None = None) -> ChannelStatus:
    """Open now (and until when), or closed (and when it reopens). ``channel`` is a schedule code;
    an unknown one follows weekdays 09:00–18:00."""
    at = at or now_utc()
    snap = _snap.current()
    sched = bt.resolve(channel, snap)
    if sched.always_open:
        return ChannelStatus(channel, True, True, None, None)
    if bt.is_open(sched, at):
        return ChannelStatus(channel, True, False, None, bt.next_close(sched, at))
    return ChannelStatus(channel, False, False, bt.next_open(sched, at), None)


@dataclass(frozen=True)
class Closure:
    """A run of consecutive public-holiday days (e.g. 春节 2026-02-15 … 02-23)."""

    name_zh: str
    name_en: str
    first: date
    last: date
    makeup_days: tuple[date, ...]  # the 调休 working days that belong to it

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def name(self, lang: str) -> str:
        return self.name_en if lang.startswith("en") else self.name_zh


def schedules() -> list[CompiledSchedule]:
    """Every schedule in display order (the default channels even when no row exists yet)."""
    snap = _snap.current()
    found = dict(snap.schedules)
    for code in CHANNELS:
        found.setdefault(code, _snap.fallback_schedule(code))
    return sorted(found.values(), key=lambda s: (s.order, s.code))


def schedule_rows(sched: CompiledSchedule) -> list[dict]:
    """``[{"day_type", "periods": ["09:00–18:00", ...]}]`` for the three kinds of day."""

    def fmt(minute: int) -> str:
        return "24:00" if minute == 1440 else f"{minute // 60:02d}:{minute % 60:02d}"

    return [
        {
            "day_type": day_type,
            "periods": ["00:00–24:00"]
            if sched.always_open
            else [f"{fmt(a)}–{fmt(b)}" for a, b in sched.intervals(day_type)],
        }
        for day_type in DAY_TYPES
    ]


def upcoming_closures(*, at: datetime | None = None, days: int = 370) -> list[Closure]:
    """Public-holiday runs ending today or later within ``days``, with their make-up working days."""
    snap = _snap.current()
    today = (at or now_utc()).astimezone(SHANGHAI).date()
    until = today + timedelta(days=days)
    holidays = sorted(d for d, o in snap.overrides.items() if o.kind == HOLIDAY and today <= d <= until)
    makeups = sorted(
        d for d, o in snap.overrides.items() if o.kind == "workday" and d >= today - timedelta(days=20)
    )
    runs: list[list[date]] = []
    for day in holidays:
        if (
            runs
            and (day - runs[-1][-1]).days == 1
            and snap.overrides[day].name_en == snap.overrides[runs[-1][-1]].name_en
        ):
            runs[-1].append(day)
        else:
            runs.append([day])
    closures = []
    for run in runs:
        first, last = run[0], run[-1]
        name = snap.overrides[first]
        # a make-up day belongs to the holiday of the same name within three weeks of it
        mine = tuple(
            d
            for d in makeups
            if snap.overrides[d].name_en == name.name_en
            and -21 <= (d - first).days <= (last - first).days + 21
        )
        closures.append(Closure(name.name_zh, name.name_en, first, last, mine))
    return closures


def calendar_years() -> list[int]:
    return sorted(_snap.current().known_years)
