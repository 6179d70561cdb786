"""Sessions remember their last activity (time and IP), cheaply: at most one write per 5 minutes."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from okwallet.accounts.models import UserSession
from okwallet.core.timeutil import now_utc


def logged_in(alice, password, ip="203.0.113.7", ua="Firefox on Linux"):
    c = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=ua)
    r = c.post("/accounts/login/", {"identifier": alice.phone, "password": password})
    assert r.status_code == 302
    return c, UserSession.objects.get(session_key=c.session.session_key)


def backdate(row, **delta):
    UserSession.objects.filter(pk=row.pk).update(last_seen=now_utc() - timedelta(**delta))


def usersession_updates(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("UPDATE") and "accounts_usersession" in q["sql"])


def test_login_records_where_and_when(alice, password):
    _c, row = logged_in(alice, password)
    assert row.ip == row.last_ip == "203.0.113.7"
    assert (now_utc() - row.last_seen).total_seconds() < 60


def test_a_request_after_a_while_updates_last_activity_and_ip(alice, password):
    c, row = logged_in(alice, password)
    backdate(row, hours=1)
    cache.clear()  # as if the 5-minute gate had expired
    c.get("/accounts/security/", REMOTE_ADDR="198.51.100.9")
    row.refresh_from_db()
    assert (now_utc() - row.last_seen).total_seconds() < 60
    assert row.last_ip == "198.51.100.9" and row.ip == "203.0.113.7"


def test_requests_within_five_minutes_write_nothing(alice, password):
    c, row = logged_in(alice, password)
    backdate(row, hours=1)
    cache.clear()
    with CaptureQueriesContext(connection) as first:
        c.get("/accounts/security/")
    assert usersession_updates(first.captured_queries) == 1
    seen = UserSession.objects.get(pk=row.pk).last_seen
    with CaptureQueriesContext(connection) as later:
        for _i in range(5):
            c.get("/accounts/security/")
    assert usersession_updates(later.captured_queries) == 0
    # Another process (no cache entry of its own) still does not write: the row is fresh.
    cache.clear()
    c.get("/accounts/security/", REMOTE_ADDR="198.51.100.77")
    row.refresh_from_db()
    assert row.last_seen == seen and row.last_ip != "198.51.100.77"


def test_interval_is_configurable(alice, password, settings):
    settings.OKWALLET_SESSION_ACTIVITY_SECONDS = 1
    c, row = logged_in(alice, password)
    backdate(row, seconds=5)
    cache.clear()
    c.get("/accounts/security/")
    row.refresh_from_db()
    assert (now_utc() - row.last_seen).total_seconds() < 2


def test_anonymous_requests_touch_nothing(client, db):
    with CaptureQueriesContext(connection) as ctx:
        client.get("/accounts/login/")
    assert usersession_updates(ctx.captured_queries) == 0


def test_sessions_page_shows_last_active_relative_and_beijing_time_and_marks_this_one(alice, password):
    other, other_row = logged_in(alice, password, ip="203.0.113.50", ua="Safari on iPhone")
    mine, mine_row = logged_in(alice, password, ip="198.51.100.20", ua="Chrome on Windows")
    # The other device was last active three hours ago, at hh:30 UTC: hh+8:30 in Beijing.
    seen = (now_utc() - timedelta(hours=3)).replace(minute=30, second=0, microsecond=0)
    UserSession.objects.filter(pk=other_row.pk).update(last_seen=seen, last_ip="203.0.113.51")
    html = mine.get("/accounts/security/sessions/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    beijing = seen.astimezone(ZoneInfo("Asia/Shanghai"))
    assert beijing.utcoffset() == timedelta(hours=8)
    assert f'<time datetime="{beijing.isoformat()}">{beijing:%Y-%m-%d %H:%M}</time>' in html
    assert "hours ago" in html
    assert "from 203.0.113.51" in html
    assert html.count('aria-current="true"') == 1
    current = html.split('aria-current="true"')[1].split("</tr>")[0]
    assert "Chrome on Windows" in current and "This device" in current and "Active now" in current
    assert f'value="web:{other_row.pk}"' in html and f'value="web:{mine_row.pk}"' not in html
    zh = mine.get("/accounts/security/sessions/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "前" in zh and "当前在线" in zh


def test_logging_out_and_expired_sessions_leave_the_list(alice, password, settings):
    from okwallet.accounts.sessions import active_sessions

    gone, gone_row = logged_in(alice, password)
    stale, stale_row = logged_in(alice, password)
    _kept, kept_row = logged_in(alice, password)
    gone.post("/accounts/logout/")
    backdate(stale_row, seconds=settings.SESSION_COOKIE_AGE + 3600)
    assert [s.pk for s in active_sessions(alice)] == [kept_row.pk]
    gone_row.refresh_from_db()
    assert gone_row.revoked_at is not None


def test_changing_the_password_keeps_this_session_listed_as_current(alice, password):
    c, row = logged_in(alice, password)
    r = c.post(
        "/accounts/security/password/",
        {"old_password": password, "new_password": "Brand-new-lantern-9"},
    )
    assert r.status_code == 302
    row.refresh_from_db()
    assert row.session_key == c.session.session_key and row.revoked_at is None


def test_changing_the_password_through_the_api_keeps_this_session_and_signs_out_the_others(
    alice, password, api_token_for
):
    other, other_row = logged_in(alice, password, ip="203.0.113.50", ua="Safari on iPhone")
    token = api_token_for(alice)
    c, row = logged_in(alice, password)
    old_key = c.session.session_key
    r = c.post(
        "/api/v1/me/password",
        data=json.dumps({"old_password": password, "new_password": "Brand-new-lantern-9"}),
        content_type="application/json",
    )
    assert r.status_code == 204
    # This session carries on under a new key (as after the page's change), still tracked as one row.
    assert c.session.session_key != old_key
    row.refresh_from_db()
    assert row.session_key == c.session.session_key and row.revoked_at is None
    assert c.get("/api/v1/me").status_code == 200
    assert c.get("/accounts/security/").status_code == 200
    web = [s for s in c.get("/api/v1/me/sessions").json() if s["kind"] == "web"]
    assert [(s["id"], s["current"]) for s in web] == [(row.pk, True)]
    # Every other session and app token is signed out.
    other_row.refresh_from_db()
    assert other_row.revoked_at is not None
    assert other.get("/api/v1/me").status_code == 401
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_changing_the_password_with_an_app_token_keeps_the_token_and_signs_out_the_web(
    alice, password, api_token_for
):
    web, web_row = logged_in(alice, password)
    token = api_token_for(alice)
    app = Client()
    r = app.post(
        "/api/v1/me/password",
        data=json.dumps({"old_password": password, "new_password": "Brand-new-lantern-9"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert r.status_code == 204
    assert app.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    web_row.refresh_from_db()
    assert web_row.revoked_at is not None
    assert web.get("/api/v1/me").status_code == 401


def test_api_lists_last_activity_and_the_current_session(alice, password):
    c, row = logged_in(alice, password, ip="198.51.100.20")
    backdate(row, hours=2)
    cache.clear()
    body = c.get("/api/v1/me/sessions", REMOTE_ADDR="198.51.100.21").json()
    web = [s for s in body if s["kind"] == "web"]
    assert len(web) == 1 and web[0]["current"] is True
    assert web[0]["ip"] == "198.51.100.20" and web[0]["last_ip"] == "198.51.100.21"


@pytest.mark.parametrize("path", ["/accounts/security/", "/api/v1/me"])
def test_bob_never_touches_alices_session_row(alice, bob, password, client_for, path):
    _c, row = logged_in(alice, password)
    backdate(row, hours=1)
    cache.clear()
    client_for(bob).get(path)
    row.refresh_from_db()
    assert (now_utc() - row.last_seen).total_seconds() > 3000
