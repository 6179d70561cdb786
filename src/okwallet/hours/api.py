from datetime import date, datetime

from django.utils.translation import get_language
from ninja import Router, Schema

from okwallet.hours import selectors
from okwallet.hours.businesstime import missing_calendar_years

router = Router(tags=["hours"])


class DayHours(Schema):
    day_type: str
    periods: list[str]


class ScheduleOut(Schema):
    code: str
    name: str
    note: str
    always_open: bool
    is_open: bool
    next_open: datetime | None
    next_close: datetime | None
    hours: list[DayHours]


class ClosureOut(Schema):
    name: str
    first: date
    last: date
    days: int
    makeup_working_days: list[date]


class HoursOut(Schema):
    timezone: str
    schedules: list[ScheduleOut]
    closures: list[ClosureOut]
    calendar_missing_years: list[int]


@router.get(
    "/hours",
    response=HoursOut,
    auth=None,
    summary="Service hours of every channel and coming holiday closures",
)
def get_hours(request):
    lang = get_language() or "zh-hans"
    english = lang.startswith("en")
    schedules = []
    for s in selectors.schedules():
        st = selectors.channel_status(s.code)
        schedules.append(
            {
                "code": s.code,
                "name": s.name_en if english else s.name_zh,
                "note": s.note_en if english else s.note_zh,
                "always_open": st.always_open,
                "is_open": st.is_open,
                "next_open": st.next_open,
                "next_close": st.next_close,
                "hours": selectors.schedule_rows(s),
            }
        )
    closures = [
        {
            "name": c.name(lang),
            "first": c.first,
            "last": c.last,
            "days": c.days,
            "makeup_working_days": list(c.makeup_days),
        }
        for c in selectors.upcoming_closures()
    ]
    return {
        "timezone": "Asia/Shanghai",
        "schedules": schedules,
        "closures": closures,
        "calendar_missing_years": missing_calendar_years(horizon_days=370),
    }
