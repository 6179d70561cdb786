"""Entering next year's calendar by hand when the package does not know it yet."""

from datetime import date, datetime

import pytest

from okwallet.core.errors import InvalidInput
from okwallet.core.models import AuditLogEntry
from okwallet.core.timeutil import SHANGHAI
from okwallet.hours import businesstime as bt
from okwallet.hours.models import CalendarDay, CalendarYear
from okwallet.hours.services import calendar_year_enter, parse_calendar_lines

pytestmark = pytest.mark.usefixtures("calendar")

HOLIDAYS_2027 = """
# New Year, Spring Festival (example figures)
2027-01-01 元旦
2027-02-06..2027-02-13 春节
"""


def test_ranges_and_single_days_are_parsed_one_day_each():
    days = parse_calendar_lines(HOLIDAYS_2027)
    assert days[0] == (date(2027, 1, 1), "元旦")
    assert [d for d, _ in days[1:]] == [date(2027, 2, d) for d in range(6, 14)]
    assert parse_calendar_lines("2027-2-14 至 2027-2-14 春节") == [(date(2027, 2, 14), "春节")]


@pytest.mark.parametrize(
    "text", ["2027-13-01 x", "next friday", "2027-02-10..2027-02-01 春节", "2027-01-01..2027-03-01 long"]
)
def test_bad_lines_are_refused_with_their_line_number(text):
    with pytest.raises(InvalidInput) as error:
        parse_calendar_lines("2027-01-01 元旦\n" + text)
    assert error.value.details["line"] == 2


def test_entering_a_year_changes_the_arithmetic_and_is_audited(supervisor):
    calendar_year_enter(
        year=2027,
        holidays=parse_calendar_lines(HOLIDAYS_2027),
        workdays=parse_calendar_lines("2027-02-14 春节\n2027-02-20 春节"),
        actor=supervisor,
    )
    assert not bt.is_working_day(date(2027, 2, 8))
    assert bt.is_working_day(date(2027, 2, 14))  # Sunday make-up day
    assert CalendarDay.objects.get(date=date(2027, 2, 6)).name_en == "Spring Festival"
    assert CalendarYear.objects.get(year=2027).entered_by == supervisor
    assert AuditLogEntry.objects.filter(
        action="hours.calendar_year_entered", object_id=str(CalendarYear.objects.get(year=2027).pk)
    ).exists()
    assert bt.missing_calendar_years(at=datetime(2026, 12, 1, tzinfo=SHANGHAI)) == []


def test_a_weekday_cannot_be_a_make_up_day_and_nothing_is_half_written(supervisor):
    with pytest.raises(InvalidInput) as error:
        calendar_year_enter(
            year=2027,
            holidays=parse_calendar_lines(HOLIDAYS_2027),
            workdays=parse_calendar_lines("2027-02-15 春节"),  # a Monday
            actor=supervisor,
        )
    assert error.value.code == "calendar_makeup_on_weekday"
    assert not CalendarDay.objects.filter(date__year=2027).exists()
    assert not CalendarYear.objects.filter(year=2027).exists()


def test_admin_form_enters_the_year_in_one_go(client_for, make_staff):
    root = make_staff("root", "admin")
    c = client_for(root)
    page = c.get("/admin/hours/calendaryear/add/")
    assert page.status_code == 200 and "holidays" in page.content.decode()
    response = c.post(
        "/admin/hours/calendaryear/add/",
        {"year": "2027", "holidays": HOLIDAYS_2027, "workdays": "2027-02-15 春节"},
    )
    assert response.status_code == 200 and "2027-02-15" in response.content.decode()
    response = c.post(
        "/admin/hours/calendaryear/add/",
        {"year": "2027", "holidays": HOLIDAYS_2027, "workdays": "2027-02-14 春节"},
    )
    assert response.status_code == 302
    assert (
        CalendarYear.objects.filter(year=2027).exists()
        and CalendarDay.objects.filter(date__year=2027).count() == 10
    )
