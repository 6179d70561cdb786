"""The upgrade page: current class and usage, each source with its state, step-up, then the forms."""

from __future__ import annotations

import pytest

from okwallet.accounts import selectors
from okwallet.accounts.services import account_freeze, realname_verify

XIAOMING = "110101199003071233"
PAGE = "/accounts/realname/upgrade/"


@pytest.fixture
def alice_client(alice, client_for):
    realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    return client_for(alice)


def step_up(c, alice, last_code):
    url = f"/accounts/security/verify/?purpose=realname_upgrade&next={PAGE}"
    c.post(url, {"action": "send"})
    r = c.post(url, {"method": "sms", "code": last_code(alice.phone), "next": PAGE})
    assert r.status_code == 302 and r["Location"] == PAGE


def test_an_unverified_customer_is_sent_to_real_name_verification(client_for, bob):
    r = client_for(bob).get(PAGE)
    assert r.status_code == 302 and r["Location"] == "/accounts/realname/"


def test_page_shows_class_usage_sources_and_asks_for_a_step_up(alice_client):
    r = alice_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert r.status_code == 200
    assert "Class I" in html and "¥1,000.00" in html and "¥¥" not in html
    assert "Verify 2 more to reach Class II" in html
    for source in ("identity", "bank_card", "carrier", "social_security", "face"):
        assert f'id="source-{source}"' in html
    assert 'href="/wallet/cards/"' in html  # the bank card is bound in the wallet
    assert 'id="upgrade-step-up"' in html
    assert 'name="carrier-id_number"' not in html  # no forms before the security check


def test_posting_without_a_step_up_goes_to_the_security_check(alice_client, alice):
    r = alice_client.post(PAGE, {"source": "carrier", "carrier-id_number": XIAOMING})
    assert r.status_code == 302 and r["Location"].startswith(
        "/accounts/security/verify/?purpose=realname_upgrade"
    )
    assert selectors.realname_for(alice).sources == ["identity"]


def test_after_the_step_up_two_sources_raise_the_class_and_history_shows_it(alice_client, alice, last_code):
    step_up(alice_client, alice, last_code)
    html = alice_client.get(PAGE).content.decode()
    assert 'name="carrier-id_number"' in html and 'name="face-face_token"' in html
    r = alice_client.post(PAGE, {"source": "carrier", "carrier-id_number": XIAOMING})
    assert r.status_code == 302
    r = alice_client.post(
        PAGE, {"source": "face", "face-id_number": XIAOMING, "face-face_token": "pass"}, follow=True
    )
    assert selectors.payment_class_for(alice).code == "II"
    html = r.content.decode()
    assert "II" in html and "¥100,000.00" in html and "¥¥" not in html
    history = alice_client.get("/accounts/security/history/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Verification added" in history and "now Class II" in history


def test_a_refused_check_shows_its_reason_on_its_form_and_changes_nothing(alice_client, alice, last_code):
    step_up(alice_client, alice, last_code)
    r = alice_client.post(
        PAGE,
        {"source": "face", "face-id_number": XIAOMING, "face-face_token": "fail"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert r.status_code == 422
    assert "人脸识别与您的身份证照片不一致" in r.content.decode()
    assert selectors.realname_for(alice).sources == ["identity"]


def test_a_frozen_customer_sees_the_state_but_cannot_add(alice_client, alice):
    account_freeze(user=alice, reason="lost phone", channel="web")
    html = alice_client.get(PAGE).content.decode()
    assert "/accounts/security/unfreeze/" in html
    r = alice_client.post(PAGE, {"source": "carrier", "carrier-id_number": XIAOMING})
    assert r.status_code == 302 and r["Location"] == PAGE
    assert selectors.realname_for(alice).sources == ["identity"]


def test_real_name_and_security_pages_link_to_the_upgrade(alice_client):
    realname_page = alice_client.get("/accounts/realname/").content.decode()
    assert PAGE in realname_page
    assert "¥1,000.00" in realname_page and "¥¥" not in realname_page
    assert PAGE in alice_client.get("/accounts/security/").content.decode()
