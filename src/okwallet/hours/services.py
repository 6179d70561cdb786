"""Writes: entering a year's official holiday calendar."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput
from okwallet.hours.defaults import HOLIDAY_NAMES_ZH
from okwallet.hours.models import CalendarDay, CalendarYear

_LINE = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})(?:\s*(?:\.\.|–|—|~|至|到)\s*(\d{4}-\d{1,2}-\d{1,2}))?\s*(.*)$")
_NAMES_EN = {zh: en for en, zh in HOLIDAY_NAMES_ZH.items()}
MAX_RUN_DAYS = 15


def parse_calendar_lines(text: str) -> list[tuple[date, str]]:
    """``2027-02-06..2027-02-13 春节`` / ``2027-02-14 春节`` lines → one (date, name) per day.
    Blank lines and ``#`` comments are skipped. Raises ``InvalidInput`` naming the bad line."""
    days: list[tuple[date, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        try:
            if match is None:
                raise ValueError
            first = date.fromisoformat(_pad(match.group(1)))
            last = date.fromisoformat(_pad(match.group(2))) if match.group(2) else first
        except ValueError:
            raise InvalidInput(
                "calendar_line_invalid",
                _("Line %(n)s is not a date or a date range (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD): %(line)s")
                % {"n": number, "line": line[:80]},
                details={"line": number},
            ) from None
        if last < first or (last - first).days >= MAX_RUN_DAYS:
            raise InvalidInput(
                "calendar_range_invalid",
                _("Line %(n)s: the range must run forwards and be shorter than %(max)s days.")
                % {"n": number, "max": MAX_RUN_DAYS},
                details={"line": number},
            )
        name = match.group(3).strip()
        day = first
        while day <= last:
            days.append((day, name))
            day += timedelta(days=1)
    return days


def _pad(text: str) -> str:
    y, m, d = text.split("-")
    return f"{y}-{int(m):02d}-{int(d):02d}"


@transaction.atomic
def calendar_year_enter(
    *, year: int, holidays: list[tuple[date, str]], workdays: list[tuple[date, str]], actor, request=None
) -> CalendarYear:
    """Enters one year's official calendar: its public-holiday days (closed) and make-up working
    days (open), replacing that year's hand-entered or imported days, and marks the year entered.
    Days may spill into the neighbouring year by a week (a New Year break from 30 December).
    Audited. Raises ``InvalidInput`` for a day listed twice, a weekday listed as a make-up day,
    or a date far outside the year."""
    if not 2000 <= year <= 2100:
        raise InvalidInput("calendar_year_invalid", _("Enter a year between 2000 and 2100."))
    seen: dict[date, str] = {}
    for kind, rows in (("holiday", holidays), ("workday", workdays)):
        for day, _name in rows:
            if not date(year, 1, 1) - timedelta(days=7) <= day <= date(year, 12, 31) + timedelta(days=7):
                raise InvalidInput(
                    "calendar_date_outside_year",
                    _("%(day)s is not in %(year)s.") % {"day": day, "year": year},
                )
            if day in seen:
                raise InvalidInput("calendar_date_twice", _("%(day)s is listed twice.") % {"day": day})
            if kind == "workday" and day.weekday() < 5:
                raise InvalidInput(
                    "calendar_makeup_on_weekday",
                    _("%(day)s is a weekday: a make-up working day is a Saturday or Sunday.") % {"day": day},
                )
            seen[day] = kind
    if not holidays:
        raise InvalidInput("calendar_no_holidays", _("List at least one public-holiday day."))
    CalendarDay.objects.filter(date__year=year).delete()
    CalendarDay.objects.filter(date__in=list(seen)).delete()
    for kind, rows in (("holiday", holidays), ("workday", workdays)):
        for day, name in rows:
            name_zh = name or ""
            CalendarDay.objects.create(
                date=day,
                kind=kind,
                name_zh=name_zh,
                name_en=_NAMES_EN.get(name_zh, name_zh),
                source=CalendarDay.Source.MANUAL,
            )
    entry, _created = CalendarYear.objects.update_or_create(
        year=year,
        defaults={
            "source": CalendarDay.Source.MANUAL,
            "entered_by": actor if getattr(actor, "pk", None) else None,
        },
    )
    audit_log_write(
        actor=actor,
        action="hours.calendar_year_entered",
        obj=entry,
        request=request,
        details={"year": year, "holidays": len(holidays), "workdays": len(workdays)},
    )
    return entry
