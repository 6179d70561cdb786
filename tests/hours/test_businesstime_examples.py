"""Business-time arithmetic across China's 2025 and 2026 Spring Festival and National Day."""

from datetime import UTC, date, datetime, timedelta

import pytest

from okwallet.core.timeutil import SHANGHAI
from okwallet.hours import businesstime as bt


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


pytestmark = pytest.mark.usefixtures("calendar")


@pytest.mark.parametrize(
    "day, working",
    [
        (date(2025, 1, 26), True),  # Sunday, make-up working day before Spring Festival
        (date(2025, 1, 28), False),  # 除夕 Tuesday, closed
        (date(2025, 2, 4), False),  # last day of the 2025 break
        (date(2025, 2, 5), True),
        (date(2025, 2, 8), True),  # Saturday make-up day
        (date(2025, 9, 28), True),  # Sunday make-up day before National Day
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday make-up day
        (date(2026, 2, 14), True),  # Saturday make-up day
        (date(2026, 2, 16), False),  # Monday, Spring Festival
        (date(2026, 2, 23), False),  # Monday, last day of the nine-day break
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday make-up day
        (date(2026, 9, 20), True),  # Sunday make-up day
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday make-up day
        (date(2026, 10, 11), False),  # an ordinary Sunday
    ],
)
def test_working_days_follow_the_official_calendar(day, working):
    assert bt.is_working_day(day) is working


def test_hotline_is_closed_over_spring_festival_2026_and_reopens_after_it():
    friday_evening = sh(2026, 2, 13, 18, 0)
    assert not bt.is_open("hotline", friday_evening)
    # Saturday 14 February is a make-up working day: open 09:00
    assert bt.next_open("hotline", friday_evening) == sh(2026, 2, 14, 9, 0)
    assert bt.next_open("hotline", sh(2026, 2, 14, 18, 0)) == sh(2026, 2, 24, 9, 0)
    assert bt.business_minutes_between("hotline", sh(2026, 2, 14, 18, 0), sh(2026, 2, 24, 9, 0)) == 0


def test_an_sla_started_before_national_day_2025_runs_on_after_the_break():
    start = sh(2025, 9, 30, 17, 0)  # Tuesday, the last working day before the break
    due = bt.add_business_minutes("email", start, 8 * 60)
    assert due == sh(2025, 10, 9, 16, 0)  # 1 h on 30 Sep + 7 h on 9 Oct
    assert bt.business_minutes_between("email", start, due) == 480


def test_make_up_saturday_counts_as_a_working_day_for_slas():
    start = sh(2025, 10, 10, 17, 0)  # Friday after National Day
    assert bt.add_business_minutes("hotline", start, 120) == sh(2025, 10, 11, 10, 0)


def test_a_period_ends_exactly_at_closing_time_rather_than_next_morning():
    assert bt.add_business_minutes("hotline", sh(2026, 12, 1, 17, 0), 60) == sh(2026, 12, 1, 18, 0)
    assert bt.add_business_minutes("hotline", sh(2026, 12, 1, 17, 0), 61) == sh(2026, 12, 2, 9, 1)


def test_opening_and_closing_instants_are_half_open():
    assert bt.is_open("hotline", sh(2026, 12, 1, 9, 0))
    assert not bt.is_open("hotline", sh(2026, 12, 1, 8, 59, 59))
    assert not bt.is_open("hotline", sh(2026, 12, 1, 18, 0))
    assert bt.next_close("hotline", sh(2026, 12, 1, 9, 0)) == sh(2026, 12, 1, 18, 0)


def test_lunch_break_closes_the_complaints_desk():
    assert not bt.is_open("complaints", sh(2026, 12, 1, 12, 30))
    assert bt.next_open("complaints", sh(2026, 12, 1, 12, 30)) == sh(2026, 12, 1, 13, 30)
    assert bt.business_minutes_between("complaints", sh(2026, 12, 1, 11, 0), sh(2026, 12, 1, 14, 0)) == 90


def test_chat_has_its_own_weekend_and_holiday_hours():
    assert bt.is_open("chat", sh(2026, 2, 17, 11, 0))  # Spring Festival holiday, 10–16
    assert not bt.is_open("chat", sh(2026, 2, 17, 17, 0))
    assert bt.is_open("chat", sh(2026, 11, 29, 15, 59))  # Sunday
    assert bt.next_open("chat", sh(2026, 11, 29, 16, 0)) == sh(2026, 11, 30, 9, 0)


def test_security_line_is_open_every_minute_including_midnight_and_holidays():
    for moment in [sh(2026, 2, 17, 0, 0), sh(2025, 12, 31, 23, 59, 59), sh(2026, 10, 1, 0, 0, 0)]:
        assert bt.is_open("security", moment)
        assert bt.next_open("security", moment) == moment
        assert bt.next_close("security", moment) is None
    start = sh(2026, 2, 16, 23, 30)
    assert bt.add_business_minutes("security", start, 60) == sh(2026, 2, 17, 0, 30)
    assert bt.business_minutes_between("security", sh(2026, 2, 1), sh(2026, 3, 1)) == 28 * 24 * 60


def test_utc_inputs_are_read_in_shanghai_time():
    # 01:00 UTC is 09:00 in Shanghai
    assert bt.is_open("hotline", datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    assert not bt.is_open("hotline", datetime(2026, 12, 1, 0, 59, tzinfo=UTC))
    due = bt.add_business_minutes("hotline", datetime(2026, 12, 1, 9, 30, tzinfo=UTC), 30)
    assert due == sh(2026, 12, 1, 18, 0) and due.tzinfo is SHANGHAI  # 17:30 local + 30 min


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        bt.is_open("hotline", datetime(2026, 12, 1, 10, 0))


def test_reply_promise_is_end_of_service_on_the_nth_working_day():
    assert bt.add_working_days(sh(2026, 12, 1, 10, 0), 2) == sh(2026, 12, 3, 18, 0)
    # written on the Friday before Spring Festival 2026: Sat 14 Feb is a make-up day, then the break
    assert bt.add_working_days(sh(2026, 2, 13, 20, 0), 1) == sh(2026, 2, 14, 18, 0)
    assert bt.add_working_days(sh(2026, 2, 13, 20, 0), 2) == sh(2026, 2, 24, 18, 0)
    # days=0 is today when working, else the next working day
    assert bt.add_working_days(sh(2026, 12, 1, 10, 0), 0) == sh(2026, 12, 1, 18, 0)
    assert bt.add_working_days(sh(2026, 10, 3, 10, 0), 0) == sh(2026, 10, 8, 18, 0)
    # with a schedule, its own closing time
    assert bt.add_working_days(sh(2026, 12, 1, 10, 0), 1, schedule="complaints") == sh(2026, 12, 2, 18, 0)


def test_a_year_without_calendar_falls_back_to_the_weekday_rule_and_is_reported():
    # 2027 is unknown to the package: 1 Jan 2027 is a Friday, counted as a plain working day
    assert bt.is_working_day(date(2027, 1, 1))
    assert not bt.is_working_day(date(2027, 1, 2))
    assert bt.add_business_minutes("hotline", sh(2026, 12, 31, 17, 0), 120) == sh(2027, 1, 1, 10, 0)
    assert bt.missing_calendar_years(at=sh(2026, 12, 1)) == [2027]
    assert bt.missing_calendar_years(at=sh(2026, 6, 1)) == []


def test_entering_a_year_clears_the_warning_and_changes_the_arithmetic():
    from okwallet.hours.models import CalendarDay, CalendarYear

    CalendarDay.objects.create(
        date=date(2027, 1, 1), kind="holiday", name_zh="元旦", name_en="New Year's Day"
    )
    CalendarYear.objects.create(year=2027)
    assert not bt.is_working_day(date(2027, 1, 1))
    assert bt.missing_calendar_years(at=sh(2026, 12, 1)) == []
    assert bt.add_business_minutes("hotline", sh(2026, 12, 31, 17, 0), 120) == sh(2027, 1, 4, 10, 0)


def test_unknown_schedule_code_follows_weekday_hours_instead_of_crashing():
    assert bt.is_open("no-such-team", sh(2026, 12, 1, 10, 0))
    assert bt.next_open("no-such-team", sh(2026, 12, 5, 10, 0)) == sh(2026, 12, 7, 9, 0)


def test_negative_amounts_are_refused_and_zero_is_identity():
    start = sh(2026, 12, 5, 3, 0)
    assert bt.add_business_minutes("hotline", start, 0) == start
    with pytest.raises(ValueError):
        bt.add_business_minutes("hotline", start, -1)
    assert bt.business_minutes_between("hotline", sh(2026, 12, 2), sh(2026, 12, 1)) == 0


def test_edited_schedule_is_seen_at_once():
    from okwallet.hours.models import Schedule, SchedulePeriod

    monday_evening = sh(2026, 11, 30, 19, 0)
    assert not bt.is_open("hotline", monday_evening)
    schedule = Schedule.objects.get(code="hotline")
    SchedulePeriod.objects.create(schedule=schedule, day_type="workday", start="18:00", end="21:00")
    assert bt.is_open("hotline", monday_evening)
    assert bt.next_close("hotline", monday_evening) == sh(2026, 11, 30, 21, 0)


def test_open_run_across_midnight_closes_at_the_end_of_the_run():
    from okwallet.hours.models import Schedule, SchedulePeriod

    night = Schedule.objects.create(code="night", name_zh="夜班", name_en="Night desk")
    SchedulePeriod.objects.create(schedule=night, day_type="workday", start="20:00", end="00:00")
    SchedulePeriod.objects.create(schedule=night, day_type="workday", start="00:00", end="02:00")
    at = sh(2026, 12, 1, 23, 0)
    assert bt.is_open("night", at) and bt.is_open("night", sh(2026, 12, 2, 0, 0))
    assert bt.next_close("night", at) == sh(2026, 12, 2, 2, 0)
    assert bt.add_business_minutes("night", at, 90) == sh(2026, 12, 2, 0, 30)
    assert bt.open_intervals("night", sh(2026, 12, 1), sh(2026, 12, 2, 12)) == [
        (sh(2026, 12, 1, 0, 0), sh(2026, 12, 1, 2, 0)),
        (sh(2026, 12, 1, 20, 0), sh(2026, 12, 2, 2, 0)),
    ]
    assert bt.next_open("night", sh(2026, 12, 5, 3, 0)) == sh(2026, 12, 7, 0, 0)
    assert timedelta(0) == bt.next_open("night", at) - at
