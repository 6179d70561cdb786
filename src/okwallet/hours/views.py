from django.shortcuts import render
from django.utils.translation import get_language

from okwallet.hours import selectors
from okwallet.hours.businesstime import missing_calendar_years


def hours_page(request):
    """Public: each channel's hours by kind of day, open now or when it reopens, coming closures."""
    lang = get_language() or "zh-hans"
    channels = [
        {
            "schedule": s,
            "name": s.name_en if lang.startswith("en") else s.name_zh,
            "note": s.note_en if lang.startswith("en") else s.note_zh,
            "rows": selectors.schedule_rows(s),
            "status": selectors.channel_status(s.code),
        }
        for s in selectors.schedules()
    ]
    closures = [{"closure": c, "name": c.name(lang)} for c in selectors.upcoming_closures()]
    return render(
        request,
        "hours/hours.html",
        {
            "channels": channels,
            "closures": closures,
            "missing_years": missing_calendar_years(horizon_days=370),
        },
    )
