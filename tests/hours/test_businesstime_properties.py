"""Properties of the business-time arithmetic, over 2024–2027 (2027: no calendar, weekday rule)."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okwallet.core.timeutil import SHANGHAI
from okwallet.hours import businesstime as bt

pytestmark = pytest.mark.usefixtures("calendar")
SCHEDULES = ["hotline", "chat", "email", "complaints", "security"]
moments = st.datetimes(
    min_value=datetime(2024, 12, 1), max_value=datetime(2027, 3, 1), timezones=st.just(SHANGHAI)
)
minutes = st.integers(min_value=0, max_value=20 * 8 * 60)
codes = st.sampled_from(SCHEDULES)
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fast
@given(codes, moments, minutes)
def test_adding_minutes_then_measuring_gives_the_same_minutes(code, start, m):
    due = bt.add_business_minutes(code, start, m)
    assert due >= start
    assert bt.business_minutes_between(code, start, due) == m
    assert bt.business_seconds_between(code, start, due) == pytest.approx(m * 60)


@fast
@given(codes, moments, minutes, minutes)
def test_adding_is_monotonic_and_composes(code, start, m1, m2):
    first = bt.add_business_minutes(code, start, m1)
    both = bt.add_business_minutes(code, start, m1 + m2)
    assert first <= both
    assert bt.add_business_minutes(code, first, m2) == both


@fast
@given(codes, moments, st.integers(min_value=1, max_value=5000))
def test_the_last_second_before_a_deadline_is_open_time(code, start, m):
    due = bt.add_business_minutes(code, start, m)
    assert bt.is_open(code, due - timedelta(seconds=1))


@fast
@given(codes, moments, moments, moments)
def test_business_time_between_is_additive(code, a, b, c):
    a, b, c = sorted([a, b, c])
    total = bt.business_seconds_between(code, a, c)
    assert total == pytest.approx(
        bt.business_seconds_between(code, a, b) + bt.business_seconds_between(code, b, c)
    )
    assert 0 <= total <= (c - a).total_seconds()


@fast
@given(codes, moments)
def test_next_open_is_open_and_nothing_is_open_before_it(code, at):
    opens = bt.next_open(code, at)
    assert opens >= at
    assert bt.is_open(code, opens)
    assert bt.business_seconds_between(code, at, opens) == 0
    assert bt.is_open(code, at) == (opens == at)


@fast
@given(codes, moments)
def test_next_close_ends_the_open_run(code, at):
    closes = bt.next_close(code, at)
    if code == "security":
        assert closes is None
        return
    assert closes > at
    assert not bt.is_open(code, closes)
    assert bt.is_open(code, closes - timedelta(seconds=1))
    if bt.is_open(code, at):
        assert bt.business_seconds_between(code, at, closes) == pytest.approx((closes - at).total_seconds())


@fast
@given(moments, moments)
def test_a_24_7_line_counts_every_minute(a, b):
    a, b = sorted([a, b])
    assert bt.business_seconds_between("security", a, b) == (b - a).total_seconds()
    assert bt.is_open("security", a.replace(hour=0, minute=0, second=0, microsecond=0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31)))
def test_working_days_agree_with_the_chinese_calendar_package(day):
    import chinese_calendar

    assert bt.is_working_day(day) == chinese_calendar.is_workday(day)


@fast
@given(moments, st.integers(min_value=0, max_value=30))
def test_working_day_promises_land_on_working_days_in_order(start, days):
    promise = bt.add_working_days(start, days)
    assert bt.is_working_day(promise.date())
    assert promise.date() >= start.date()
    later = bt.add_working_days(start, days + 1)
    if days == 0 and not bt.is_working_day(start.date()):
        assert later == promise  # "today" on a holiday means the next working day
    else:
        assert later > promise
    between = [
        promise.date() - timedelta(days=i)
        for i in range(1, (promise.date() - start.date()).days)
        if bt.is_working_day(promise.date() - timedelta(days=i))
    ]
    assert len(between) == max(days - 1, 0)
