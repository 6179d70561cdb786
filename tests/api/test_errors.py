"""Bad input gets a clear 4xx in the one error shape, never a 500, nothing half-written."""

import json

import pytest

from okwallet.accounts.models import ApiToken


def assert_error_shape(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code and body["message"]
    return body


def test_unknown_api_route_is_a_json_404(client, db):
    assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_malformed_json_is_a_400(client, db):
    response = client.post("/api/v1/auth/token", data="{bad", content_type="application/json")
    assert_error_shape(response, 400, "malformed_json")
    assert not ApiToken.objects.exists()


def test_wrong_content_type_is_a_415(client, db):
    response = client.post("/api/v1/auth/token", data="identifier=a&password=b", content_type="text/plain")
    assert_error_shape(response, 415, "unsupported_media_type")


def test_oversized_body_is_a_413(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = json.dumps({"identifier": "x" * 5000, "password": "y"})
    assert_error_shape(
        client.post("/api/v1/auth/token", data=payload, content_type="application/json"),
        413,
        "payload_too_large",
    )


def test_missing_and_invalid_fields_are_a_422_naming_each_field(client, db):
    body = assert_error_shape(
        client.post("/api/v1/auth/token", data={"identifier": ""}, content_type="application/json"),
        422,
        "invalid_input",
    )
    fields = {f["field"] for f in body["details"]["fields"]}
    assert {"identifier", "password"} <= fields


def test_wrong_credentials_are_a_401_without_revealing_whether_the_account_exists(client, alice):
    known = client.post(
        "/api/v1/auth/token",
        data={"identifier": "13800000001", "password": "nope"},
        content_type="application/json",
    )
    unknown = client.post(
        "/api/v1/auth/token",
        data={"identifier": "13999999999", "password": "nope"},
        content_type="application/json",
    )
    assert_error_shape(known, 401, "invalid_credentials")
    assert known.json() == unknown.json()


def test_messages_follow_the_users_language(client, db):
    zh = client.get("/api/v1/no-such-thing")
    en = client.get("/api/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE="en")
    assert zh.json()["message"] == "找不到该页面。"
    assert en.json()["message"] == "We could not find that page."


def test_protected_endpoint_needs_auth(client, db):
    assert_error_shape(client.get("/api/v1/me"), 401, "not_authenticated")


def test_token_auth_and_session_auth_both_work(client, alice, password, client_for):
    response = client.post(
        "/api/v1/auth/token",
        data={"identifier": "+86 138 0000 0001", "password": password},
        content_type="application/json",
    )
    assert response.status_code == 201
    token = response.json()["token"]
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["user_id"] == alice.public_id
    assert client_for(alice).get("/api/v1/me").json()["user_id"] == alice.public_id
    assert client.delete("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405
    assert client.delete("/api/v1/auth/token", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 204
    assert_error_shape(
        client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}"), 401, "not_authenticated"
    )


def test_login_is_rate_limited_per_ip_with_retry_after(client, db):
    for _ in range(20):
        client.post(
            "/api/v1/auth/token", data={"identifier": "x", "password": "y"}, content_type="application/json"
        )
    response = client.post(
        "/api/v1/auth/token", data={"identifier": "x", "password": "y"}, content_type="application/json"
    )
    assert_error_shape(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1


def test_openapi_schema_is_served(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "OK Wallet API"
    assert "/api/v1/contact" in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.parametrize("path", ["/no-such-page", "/console/nope"])
def test_unknown_pages_get_a_friendly_404(client, db, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "找不到该页面" in response.content.decode()


def test_nul_characters_in_json_are_refused_with_a_clear_400(client, db):
    response = client.post(
        "/api/v1/auth/password-check", data='{"password": "ab\\u0000cd"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_characters"


def test_cti_event_with_a_nul_body_is_stored_and_refused_not_a_server_error(client, db):
    from okwallet.voice.models import WebhookEvent

    response = client.post("/api/v1/voice/cti/events", data=b"\x00", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert WebhookEvent.objects.filter(provider="cti", body="\\x00").exists()


def test_ids_beyond_64_bits_are_a_clear_4xx_on_the_api_and_pages(alice, agent, client_for):
    huge = "9" * 25
    api = client_for(alice).delete(f"/api/v1/wallet/cards/{huge}")
    assert api.status_code in (404, 422) and api.json()["code"] in (
        "not_found",
        "card_not_found",
        "number_out_of_range",
    )
    page = client_for(agent).get(f"/console/calls/{huge}/")
    assert page.status_code == 404
    transfer = client_for(alice).post(
        "/api/v1/wallet/transfers",
        data={"payee_id": int(huge), "amount_fen": 100},
        content_type="application/json",
    )
    assert transfer.status_code == 422


@pytest.fixture
def database_out_of_reach(monkeypatch):
    """What psycopg's pool raises when no connection frees up within its timeout (bench/soak.py:
    a burst of password checks held every pooled connection of a process for seconds)."""
    from django.db import OperationalError

    from okwallet.payments import selectors

    def busy(user):
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(selectors, "wallet_summary", busy)


def test_database_out_of_reach_is_a_503_to_retry_not_a_500(
    client, alice, api_token_for, database_out_of_reach
):
    response = client.get("/api/v1/wallet", HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice)}")
    body = assert_error_shape(response, 503, "unavailable")
    assert response["Retry-After"] == "5"
    assert body["details"]["request_id"] == response["X-Request-ID"]


def test_a_page_with_the_database_out_of_reach_says_try_again(client_for, alice, database_out_of_reach):
    client = client_for(alice)
    response = client.get("/wallet/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "系统繁忙，请稍后再试。" in response.content.decode()
