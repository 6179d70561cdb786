"""Portal pages: they render for the owner, redirect anonymous visitors, and run the flows."""

import re

import pytest

from okwallet.accounts.models import ClosureRequest, User
from tests.accounts.conftest import totp_now

CUSTOMER_PAGES = [
    "/accounts/security/",
    "/accounts/security/history/",
    "/accounts/security/sessions/",
    "/accounts/security/password/",
    "/accounts/security/2fa/",
    "/accounts/security/freeze/",
    "/accounts/security/contact/phone/",
    "/accounts/security/contact/email/",
    "/accounts/security/verify/?purpose=closure",
    "/accounts/realname/",
    "/accounts/closure/",
]
PUBLIC_PAGES = ["/accounts/login/", "/accounts/signup/", "/accounts/password/forgot/"]


@pytest.mark.parametrize("path", CUSTOMER_PAGES)
def test_customer_pages_render_for_the_owner(client_for, alice, path):
    response = client_for(alice).get(path)
    assert response.status_code == 200, path
    assert "<main" in response.content.decode()


@pytest.mark.parametrize("path", CUSTOMER_PAGES)
def test_customer_pages_send_anonymous_visitors_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_render(client, db, path):
    assert client.get(path).status_code == 200


def test_security_page_shows_the_user_id_and_masked_phone(client_for, alice):
    html = client_for(alice).get("/accounts/security/").content.decode()
    assert alice.public_id in html
    assert "138****0001" in html
    assert "13800000001" not in html


def test_web_login_with_totp_goes_through_the_second_step(client, alice, password, enable_totp):
    enable_totp(alice)
    response = client.post("/accounts/login/", {"identifier": "13800000001", "password": password})
    assert response["Location"] == "/accounts/login/verify/"
    assert "_auth_user_id" not in client.session
    response = client.post("/accounts/login/verify/", {"method": "totp", "code": totp_now(alice)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert "okw_dev" in response.cookies


def test_web_login_lockout_is_a_429_page_with_retry_after(client, alice, fresh_lock_window):
    for _i in range(5):
        client.post("/accounts/login/", {"identifier": "13800000001", "password": "Wrong-pass-1"})
    response = client.post("/accounts/login/", {"identifier": "13800000001", "password": "Wrong-pass-1"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_sessions_page_revokes_another_session(client_for, alice, password):
    from django.test import Client

    other = Client()
    other.post("/accounts/login/", {"identifier": "13800000001", "password": password})
    mine = Client()
    mine.post("/accounts/login/", {"identifier": "13800000001", "password": password})
    html = mine.get("/accounts/security/sessions/").content.decode()
    ids = re.findall(r'value="web:(\d+)"', html)
    assert len(ids) == 1
    mine.post("/accounts/security/sessions/", {"session": f"web:{ids[0]}"})
    assert other.get("/accounts/security/").status_code == 302  # logged out
    assert mine.get("/accounts/security/").status_code == 200


def test_closure_page_explains_blockers_and_changes_nothing(client_for, alice, monkeypatch):
    from okwallet.core import hooks

    def blockers(user):
        return [{"code": "balance", "message": "Your balance is ¥12.00: withdraw it first."}]

    monkeypatch.setattr(
        hooks, "_implementations", lambda name: (blockers,) if name == "closure_blockers" else ()
    )
    c = client_for(alice)
    html = c.get("/accounts/closure/").content.decode()
    assert "¥12.00" in html
    c.post("/accounts/closure/", {"action": "request", "confirm": "on"})
    alice.refresh_from_db()
    assert alice.status == User.Status.ACTIVE
    assert not ClosureRequest.objects.exists()


def test_password_reminder_is_opt_in_and_sent_once_per_period(client_for, alice):
    from datetime import timedelta

    from okwallet.accounts.flows import password_reminders_due
    from okwallet.core.models import Notification
    from okwallet.core.timeutil import now_utc

    User.objects.filter(pk=alice.pk).update(password_changed_at=now_utc() - timedelta(days=200))
    assert password_reminders_due() == 0  # not asked for: no reminder, no forced expiry
    client_for(alice).post("/accounts/security/password/reminder/", {"days": "180"})
    alice.refresh_from_db()
    assert alice.password_reminder_days == 180
    assert password_reminders_due() == 1
    assert password_reminders_due() == 0
    assert Notification.objects.filter(user=alice, kind="password_reminder").count() == 1


def test_password_reminder_refuses_odd_periods(client_for, alice):
    client_for(alice).post("/accounts/security/password/reminder/", {"days": "7"})
    alice.refresh_from_db()
    assert alice.password_reminder_days == 0


def test_new_payee_warning_shows_only_the_masked_name(rf, db):
    from django.template.loader import render_to_string

    from okwallet.antifraud.selectors import payee_warning_context

    html = render_to_string(
        "antifraud/_payee_warning.html", payee_warning_context("张小三"), request=rf.get("/")
    )
    assert "张*三" in html and "张小三" not in html


def test_agent_finds_a_customer_masked_and_freezes_with_a_reason(client_for, agent, alice):
    from okwallet.core.models import AuditLogEntry

    c = client_for(agent)
    html = c.get("/accounts/console/security/", {"q": alice.public_id}).content.decode()
    assert "138****0001" in html and "13800000001" not in html
    assert AuditLogEntry.objects.filter(action="accounts.customer_security_viewed", actor=agent).exists()
    r = c.post("/accounts/console/security/", {"q": alice.public_id, "channel": "hotline", "reason": ""})
    assert r.status_code == 200
    alice.refresh_from_db()
    assert alice.status == "active"  # no reason: nothing happens
    c.post(
        "/accounts/console/security/",
        {"q": alice.public_id, "channel": "hotline", "reason": "verified caller lost phone"},
    )
    alice.refresh_from_db()
    assert alice.status == "frozen" and alice.freeze_reason == "verified caller lost phone"
    assert AuditLogEntry.objects.filter(action="security.account_frozen", actor=agent).exists()


def test_customers_cannot_open_the_agent_page(client_for, alice, bob):
    r = client_for(bob).get("/accounts/console/security/", {"q": alice.public_id})
    assert r.status_code == 403
    assert "138****0001" not in r.content.decode()


def test_closed_accounts_are_hidden_from_the_agent_search(client_for, agent, alice):
    User.objects.filter(pk=alice.pk).update(status="closed")
    html = client_for(agent).get("/accounts/console/security/", {"q": alice.public_id}).content.decode()
    assert "138****0001" not in html


def test_freezing_from_the_site_signs_out_everyone_else(alice, password):
    from django.test import Client

    intruder, owner = Client(), Client()
    for c in (intruder, owner):
        c.post("/accounts/login/", {"identifier": "13800000001", "password": password})
    owner.post("/accounts/security/freeze/", {"reason": "suspected_fraud"})
    alice.refresh_from_db()
    assert alice.status == "frozen"
    assert owner.get("/accounts/security/").status_code == 200
    assert intruder.get("/accounts/security/").status_code == 302
