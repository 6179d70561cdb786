"""The upgrade over the API: list sources, step up once, add carrier and social security → Class II."""

from __future__ import annotations

import json

import pytest

from okwallet.accounts import selectors
from okwallet.accounts.services import realname_verify

XIAOMING = "110101199003071233"


@pytest.fixture
def token(alice, api_token_for):
    realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    return api_token_for(alice)


def step_up(api, token, alice, last_code):
    assert api.post("/security/step-up/sms", {"purpose": "realname_upgrade"}, token=token).status_code == 202
    r = api.post(
        "/security/step-up",
        {"purpose": "realname_upgrade", "method": "sms", "code": last_code(alice.phone)},
        token=token,
    )
    assert r.status_code == 201, r.content


def test_sources_list_shows_state_and_how_to_add_each(api, token):
    r = api.get("/me/realname/sources", token=token)
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == "I" and body["limit_fen"] == 100_000 and body["sources_verified"] == 1
    rows = {row["source"]: row for row in body["sources"]}
    assert rows["identity"]["verified"] is True
    assert rows["bank_card"]["how"] == "link" and rows["bank_card"]["api"] == "POST /api/v1/wallet/cards"
    assert rows["carrier"]["api"] == "POST /api/v1/me/realname/sources/carrier"
    assert rows["face"]["needs"] == ["id_number", "face_token"]


def test_adding_a_source_needs_a_step_up_first(api, token, alice):
    r = api.post("/me/realname/sources/carrier", {"id_number": XIAOMING}, token=token)
    assert r.status_code == 403
    assert r.json()["code"] == "step_up_required"
    assert r.json()["details"]["purpose"] == "realname_upgrade"
    assert selectors.realname_for(alice).sources == ["identity"]


def test_one_step_up_then_two_sources_make_class_two(api, token, alice, last_code):
    step_up(api, token, alice, last_code)
    r = api.post("/me/realname/sources/carrier", {"id_number": XIAOMING}, token=token)
    assert r.status_code == 201, r.content
    assert r.json()["added"] is True and r.json()["code"] == "I" and r.json()["sources_verified"] == 2
    r = api.post("/me/realname/sources/social_security", {"id_number": XIAOMING}, token=token)
    assert r.status_code == 201
    assert r.json()["code"] == "II" and r.json()["limit_fen"] == 10_000_000 and r.json()["period"] == "year"
    # A retry is harmless.
    r = api.post("/me/realname/sources/social_security", {"id_number": XIAOMING}, token=token)
    assert r.status_code == 200 and r.json()["added"] is False
    assert api.get("/me/payment-class", token=token).json()["code"] == "II"


def test_face_needs_its_token(api, token, alice, last_code):
    step_up(api, token, alice, last_code)
    r = api.post("/me/realname/sources/face", {"id_number": XIAOMING, "face_token": "fail"}, token=token)
    assert r.status_code == 422 and r.json()["code"] == "face_mismatch"
    r = api.post("/me/realname/sources/face", {"id_number": XIAOMING, "face_token": "pass"}, token=token)
    assert r.status_code == 201 and "face" in selectors.realname_for(alice).sources


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/me/realname/sources/passport", {"id_number": XIAOMING}, 404, "unknown_source"),
        ("/me/realname/sources/bank_card", {"id_number": XIAOMING}, 409, "source_needs_card"),
        ("/me/realname/sources/carrier", {"id_number": "330106198801012228"}, 422, "realname_id_mismatch"),
        ("/me/realname/sources/carrier", {"id_number": "12345"}, 422, "id_number_format"),
        ("/me/realname/sources/carrier", {}, 422, None),  # schema: id_number is required
    ],
)
def test_bad_requests_are_clear_4xx_and_change_nothing(
    api, token, alice, last_code, path, body, status, code
):
    step_up(api, token, alice, last_code)
    r = api.post(path, body, token=token)
    assert r.status_code == status, r.content
    assert set(r.json()) == {"code", "message", "details"}
    if code:
        assert r.json()["code"] == code
    assert selectors.realname_for(alice).sources == ["identity"]


def test_messages_come_in_chinese_and_english(client, token, alice, last_code, api):
    step_up(api, token, alice, last_code)
    answers = {}
    for lang in ("zh-hans", "en"):
        r = client.post(
            "/api/v1/me/realname/sources/carrier",
            data=json.dumps({"id_number": "330106198801012228"}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_ACCEPT_LANGUAGE=lang,
        )
        answers[lang] = r.json()["message"]
    assert "身份证号" in answers["zh-hans"]
    assert "ID number you verified" in answers["en"]


def test_too_many_attempts_is_a_429_with_retry_after(api, token, alice, last_code, settings):
    settings.OKWALLET_SOURCE_CHECKS_PER_HOUR = 1
    step_up(api, token, alice, last_code)
    api.post("/me/realname/sources/face", {"id_number": XIAOMING, "face_token": "fail"}, token=token)
    r = api.post("/me/realname/sources/face", {"id_number": XIAOMING, "face_token": "pass"}, token=token)
    assert r.status_code == 429 and r.json()["code"] == "source_checks_too_many"
    assert int(r["Retry-After"]) > 0


def test_unverified_customer_is_told_to_verify_first(api, bob, api_token_for):
    r = api.post("/me/realname/sources/carrier", {"id_number": XIAOMING}, token=api_token_for(bob))
    assert r.status_code == 403 and r.json()["code"] == "realname_required"
