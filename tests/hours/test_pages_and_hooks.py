"""The public hours page and API, channel status, supervisor warnings, admin and cache invalidation."""

from datetime import date, datetime
from unittest import mock

import pytest
from django.core.cache import cache

from okwallet.core.timeutil import SHANGHAI
from okwallet.hours import selectors, snapshot
from okwallet.hours.models import CalendarDay, CalendarYear, Schedule

pytestmark = pytest.mark.usefixtures("calendar")


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_channel_status_says_open_until_or_closed_until_reopening():
    open_now = selectors.channel_status("hotline", at=sh(2026, 12, 1, 10, 0))
    assert open_now.is_open and not open_now.always_open
    assert open_now.next_close == sh(2026, 12, 1, 18, 0) and open_now.next_open is None
    closed = selectors.channel_status("hotline", at=sh(2026, 9, 30, 18, 30))
    assert not closed.is_open and closed.next_open == sh(2026, 10, 8, 9, 0)
    security = selectors.channel_status("security", at=sh(2026, 10, 1, 0, 0))
    assert security.is_open and security.always_open and security.next_close is None


def test_upcoming_closures_group_holiday_runs_with_their_make_up_days():
    closures = selectors.upcoming_closures(at=sh(2026, 1, 20), days=60)
    spring = next(c for c in closures if c.name_en == "Spring Festival")
    assert (spring.first, spring.last, spring.days) == (date(2026, 2, 15), date(2026, 2, 23), 9)
    assert spring.makeup_days == (date(2026, 2, 14), date(2026, 2, 28))
    assert spring.name("zh-hans") == "春节"


def test_hours_page_lists_every_channel_in_chinese_and_english(client):
    page = client.get("/hours/").content.decode()
    for name in ["客服热线", "在线客服", "邮件支持", "投诉与建议", "24小时账户安全专线"]:
        assert name in page
    assert "09:00–18:00" in page and "13:30–18:00" in page and "调休上班日" in page
    english = client.get("/hours/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Service hours" in english and "Public holidays" in english and "Open 24/7" in english


def test_hours_page_says_when_next_years_calendar_is_not_published(client):
    page = client.get("/hours/").content.decode()
    if CalendarYear.objects.filter(year=date.today().year + 1).exists():
        pytest.skip("next year entered")
    assert 'data-testid="calendar-pending"' in page


def test_hours_api_returns_schedules_closures_and_missing_years(client):
    body = client.get("/api/v1/hours", HTTP_ACCEPT_LANGUAGE="en").json()
    codes = [s["code"] for s in body["schedules"]]
    assert codes[:5] == ["hotline", "chat", "email", "complaints", "security"]
    hotline = body["schedules"][0]
    assert hotline["name"] == "Customer hotline"
    assert hotline["hours"][0] == {"day_type": "workday", "periods": ["09:00–18:00"]}
    assert hotline["is_open"] or hotline["next_open"]
    assert body["timezone"] == "Asia/Shanghai"


def test_contact_page_and_api_read_the_schedules(client):
    schedule = Schedule.objects.get(code="hotline")
    schedule.always_open = True
    schedule.save()
    hotline = client.get("/api/v1/contact?kind=hotline").json()["channels"][0]
    assert hotline["always_open"] and hotline["is_open"]
    assert "24 小时服务" in client.get("/hours/").content.decode()


def test_supervisors_are_warned_on_pages_and_customers_are_not(client_for, supervisor, alice, agent):
    CalendarYear.objects.filter(year__gte=2027).delete()
    with mock.patch("okwallet.hours.businesstime.now_utc", return_value=sh(2026, 12, 1, 10)):
        warned = client_for(supervisor).get("/hours/").content.decode()
        assert "尚未录入 2027 年的法定节假日安排" in warned
        assert "SLA 时限" in warned
        assert "SLA 时限" not in client_for(alice).get("/hours/").content.decode()
        assert "SLA 时限" not in client_for(agent).get("/hours/").content.decode()


def test_dashboard_panel_is_red_until_the_year_is_entered(supervisor, agent):
    from okwallet.hours.hooks import dashboard_panels

    with mock.patch("okwallet.hours.businesstime.now_utc", return_value=sh(2026, 12, 1, 10)):
        panel = dashboard_panels(supervisor)[0]
        assert "2027" in panel["html"] and "notice error" in panel["html"]
        assert dashboard_panels(agent) == []
        CalendarYear.objects.create(year=2027)
        assert "notice error" not in dashboard_panels(supervisor)[0]["html"]


def test_console_home_shows_the_calendar_panel_to_supervisors(client_for, supervisor):
    page = client_for(supervisor).get("/console/").content.decode()
    assert 'data-testid="hours-panel"' in page


def test_admin_warns_and_imports_from_the_package(client_for, make_staff):
    root = make_staff("root", "admin")
    c = client_for(root)
    CalendarDay.objects.filter(date__year=2025).delete()
    CalendarYear.objects.filter(year=2025).delete()
    with mock.patch("okwallet.hours.businesstime.now_utc", return_value=sh(2025, 6, 1, 10)):
        page = c.get("/admin/hours/calendarday/").content.decode()
        assert "2025" in page and "SLA 时限" in page
        response = c.post(
            "/admin/hours/calendarday/",
            {"action": "import_from_package", "_selected_action": [CalendarDay.objects.first().pk]},
            follow=True,
        )
        assert response.status_code == 200
        assert CalendarYear.objects.filter(year=2025).exists()
        assert CalendarDay.objects.get(date=date(2025, 1, 28)).kind == "holiday"
        assert "SLA 时限" not in c.get("/admin/hours/calendarday/").content.decode()


def test_admin_refuses_a_period_that_closes_before_it_opens(client_for, make_staff):
    root = make_staff("root", "admin")
    schedule = Schedule.objects.get(code="email")
    data = {
        "code": "email",
        "name_zh": schedule.name_zh,
        "name_en": schedule.name_en,
        "order": 3,
        "periods-TOTAL_FORMS": "1",
        "periods-INITIAL_FORMS": "0",
        "periods-0-day_type": "weekend",
        "periods-0-start": "18:00",
        "periods-0-end": "09:00",
    }
    response = client_for(root).post(f"/admin/hours/schedule/{schedule.pk}/change/", data)
    assert response.status_code == 200
    assert (
        "split a period that crosses midnight" in response.content.decode()
        or "拆成两段" in response.content.decode()
    )
    assert not schedule.periods.filter(day_type="weekend").exists()


def test_a_change_in_another_process_is_seen_through_the_shared_version_token():
    assert not selectors.channel_status("email", at=sh(2026, 12, 5, 10)).is_open
    # Another process edits the row (bypassing this process's signals) and bumps the token.
    Schedule.objects.filter(code="email").update(always_open=True)
    assert not selectors.channel_status("email", at=sh(2026, 12, 5, 10)).is_open  # still the held copy
    cache.set(snapshot.VERSION_KEY, "from-another-process")
    assert not selectors.channel_status("email", at=sh(2026, 12, 5, 10)).is_open  # trusted for a second
    snapshot._checked_at -= snapshot.RECHECK_SECONDS  # ... a second later
    assert selectors.channel_status("email", at=sh(2026, 12, 5, 10)).is_open


def test_missing_tables_fall_back_to_the_plain_rule(monkeypatch):
    def broken():
        raise RuntimeError("no database")

    monkeypatch.setattr(snapshot, "_load", broken)
    monkeypatch.setattr(snapshot, "_current", None)
    status = selectors.channel_status("hotline", at=sh(2026, 11, 28, 22, 0))
    assert not status.is_open and status.next_open == sh(2026, 11, 30, 9, 0)
    assert selectors.channel_status("security").always_open


def test_calendar_command_imports_and_reports_missing_years(capsys):
    from django.core.management import call_command

    CalendarYear.objects.filter(year=2026).delete()
    CalendarDay.objects.filter(date__year=2026).delete()
    call_command("hours_calendar")
    assert CalendarYear.objects.filter(year=2026).exists()
    assert CalendarDay.objects.get(date=date(2026, 10, 1)).name_zh == "国庆节"
    with mock.patch("okwallet.hours.businesstime.now_utc", return_value=sh(2026, 12, 1, 10)):
        with pytest.raises(SystemExit):
            call_command("hours_calendar", "--check")
    assert "2027" in capsys.readouterr().err


def test_demo_seed_is_idempotent():
    import io

    from okwallet.hours.demo import seed

    out = io.StringIO()
    seed(stdout=out)
    seed(stdout=out)
    assert Schedule.objects.filter(code="hotline").count() == 1
    assert "0 schedules created" in out.getvalue()
