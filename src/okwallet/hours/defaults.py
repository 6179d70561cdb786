"""Default schedules and the calendar import from the ``chinese-calendar`` package.

Both are idempotent and take the model classes as arguments so the data migration can use its
historical models; with no arguments they use the live ones.
"""

from __future__ import annotations

from datetime import time

WORKDAY, WEEKEND, HOLIDAY = "workday", "weekend", "holiday"

# code, zh, en, always_open, order, periods {day_type: [(start, end)]}, note_zh, note_en
SCHEDULES = [
    {
        "code": "hotline",
        "name_zh": "客服热线",
        "name_en": "Customer hotline",
        "always_open": False,
        "order": 1,
        "periods": {WORKDAY: [(time(9), time(18))]},
        "note_zh": "周末和法定节假日人工坐席休息，可留言或预约回电；账户安全问题请拨 24 小时专线。",
        "note_en": "No agents at weekends and on public holidays: leave a message or book a call back. "
        "For account security, call the 24/7 line.",
    },
    {
        "code": "chat",
        "name_zh": "在线客服",
        "name_en": "Live chat",
        "always_open": False,
        "order": 2,
        "periods": {
            WORKDAY: [(time(9), time(18))],
            WEEKEND: [(time(10), time(16))],
            HOLIDAY: [(time(10), time(16))],
        },
        "note_zh": "智能助手全天在线；人工客服的时间见下表。",
        "note_en": "The assistant answers around the clock; people answer at the times below.",
    },
    {
        "code": "email",
        "name_zh": "邮件支持",
        "name_en": "Email support",
        "always_open": False,
        "order": 3,
        "periods": {WORKDAY: [(time(9), time(18))]},
        "note_zh": "邮件随时可发，我们在工作时间内回复。",
        "note_en": "Write at any time; we reply during working hours.",
    },
    {
        "code": "complaints",
        "name_zh": "投诉与建议",
        "name_en": "Complaints and suggestions",
        "always_open": False,
        "order": 4,
        "periods": {WORKDAY: [(time(9), time(12)), (time(13, 30), time(18))]},
        "note_zh": "由高级客户经理处理，午间 12:00–13:30 休息。",
        "note_en": "Handled by senior managers; lunch break 12:00–13:30.",
    },
    {
        "code": "security",
        "name_zh": "24小时账户安全专线",
        "name_en": "24/7 account security line",
        "always_open": True,
        "order": 5,
        "periods": {},
        "note_zh": "全年无休，包括节假日。",
        "note_en": "Every day of the year, holidays included.",
    },
]

HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def ensure_default_schedules(schedule_model=None, period_model=None) -> int:
    """Creates each default schedule that is missing (existing ones are left as edited). Returns how many."""
    if schedule_model is None:
        from okwallet.hours.models import Schedule as schedule_model
        from okwallet.hours.models import SchedulePeriod as period_model
    created = 0
    for spec in SCHEDULES:
        fields = {k: v for k, v in spec.items() if k not in ("code", "periods")}
        schedule, was_created = schedule_model.objects.get_or_create(code=spec["code"], defaults=fields)
        if was_created:
            created += 1
            for day_type, periods in spec["periods"].items():
                for start, end in periods:
                    period_model.objects.create(schedule=schedule, day_type=day_type, start=start, end=end)
    return created


def package_years() -> list[int]:
    """The years the installed chinese-calendar package knows."""
    from chinese_calendar import constants

    return sorted({day.year for day in constants.holidays} | {day.year for day in constants.workdays})


def import_package_calendar(day_model=None, year_model=None, *, years=None) -> list[int]:
    """Copies the package's holidays and make-up working days into the database for each known
    year not yet entered (a year already entered, by hand or before, is left alone). Returns the
    years imported."""
    from chinese_calendar import constants

    if day_model is None:
        from okwallet.hours.models import CalendarDay as day_model
        from okwallet.hours.models import CalendarYear as year_model
    wanted = set(package_years() if years is None else years) & set(package_years())
    done = set(year_model.objects.filter(year__in=wanted).values_list("year", flat=True))
    imported = []
    for year in sorted(wanted - done):
        for table, kind in ((constants.holidays, "holiday"), (constants.workdays, "workday")):
            for day, name in table.items():
                if day.year != year:
                    continue
                name_en = str(name)
                day_model.objects.update_or_create(
                    date=day,
                    defaults={
                        "kind": kind,
                        "name_en": name_en,
                        "name_zh": HOLIDAY_NAMES_ZH.get(name_en, name_en),
                        "source": "package",
                    },
                )
        year_model.objects.create(year=year, source="package", note="chinese-calendar")
        imported.append(year)
    return imported


def ensure_default_hours() -> None:
    """Schedules and the package calendar (idempotent; for flushed test databases and demo data)."""
    ensure_default_schedules()
    import_package_calendar()
