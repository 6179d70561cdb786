"""What hours contributes to the other apps' pages (see docs/interfaces.md)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def _is_supervisor(user) -> bool:
    from okwallet.accounts.roles import ADMIN, SUPERVISOR, has_role

    return bool(user is not None and getattr(user, "is_staff", False) and has_role(user, SUPERVISOR, ADMIN))


def calendar_warning_text(years: list[int]) -> str:
    listed = "、".join(str(y) for y in years)
    return ngettext(
        "China's public-holiday calendar for %(years)s has not been entered. Service hours, SLA "
        "deadlines and reply promises in that year follow the plain weekday rule until it is "
        "entered in the back office (Service hours → Calendar days).",
        "China's public-holiday calendars for %(years)s have not been entered. Service hours, SLA "
        "deadlines and reply promises in those years follow the plain weekday rule until they are "
        "entered in the back office (Service hours → Calendar days).",
        len(years),
    ) % {"years": listed}


def site_notices(request) -> list[dict]:
    """Supervisors see, on every page, that a coming year has no holiday calendar yet."""
    if not _is_supervisor(getattr(request, "user", None)):
        return []
    from okwallet.hours.businesstime import missing_calendar_years

    years = missing_calendar_years()
    return [{"level": "warning", "text": calendar_warning_text(years)}] if years else []


def _calendar_panel(user) -> list[dict]:
    from okwallet.hours.businesstime import missing_calendar_years
    from okwallet.hours.selectors import channel_status, schedules, upcoming_closures

    html = render_to_string(
        "hours/_calendar_panel.html",
        {
            "missing_years": missing_calendar_years(),
            "closures": upcoming_closures(days=120)[:4],
            "statuses": [(s, channel_status(s.code)) for s in schedules()],
            "can_edit": user.has_perm("hours.add_calendarday"),
        },
    )
    return [
        {"title": _("Service hours and holiday calendar"), "html": html}
    ]  # render_to_string returns a SafeString


def dashboard_panels(viewer) -> list[dict]:
    """Supervisor dashboard: calendar status (red while a year is missing) and channels open now."""
    return _calendar_panel(viewer) if _is_supervisor(viewer) else []


def console_home_panels(request) -> list[dict]:
    return _calendar_panel(request.user) if _is_supervisor(request.user) else []


def metrics() -> list[tuple]:
    """Channels open now and the calendar gap, for /metrics."""
    from okwallet.hours.businesstime import missing_calendar_years
    from okwallet.hours.selectors import channel_status, schedules

    rows = [
        (
            "okw_channel_open",
            "1 when the service channel is open now.",
            "gauge",
            {"channel": s.code},
            int(channel_status(s.code).is_open),
        )
        for s in schedules()
    ]
    rows.append(
        (
            "okw_calendar_missing_years",
            "Coming years without an entered holiday calendar.",
            "gauge",
            {},
            len(missing_calendar_years()),
        )
    )
    return rows
