"""Every customer endpoint × (owner, another customer, anonymous).

The owner gets their own data; bob, using his own credentials, only ever sees bob's data (the
endpoints are all "me"-scoped, so alice's user ID, phone and events never appear in his answers);
anonymous callers get 401 and nothing else.
"""

import json

import pytest

from okwallet.accounts.services import realname_verify, security_event_record

# (method, path, body) — every customer endpoint of accounts.
CUSTOMER_ENDPOINTS = [
    ("get", "/me", None),
    ("get", "/me/realname", None),
    ("get", "/me/payment-class", None),
    ("get", "/me/realname/sources", None),
    ("post", "/me/realname/sources/carrier", {"id_number": "310104195806154567"}),
    ("get", "/me/security", None),
    ("get", "/me/security/events", None),
    ("get", "/me/sessions", None),
    ("get", "/me/unfreeze", None),
    ("get", "/me/closure", None),
    ("post", "/me/sessions/logout-all", {}),
    ("post", "/me/password", {"old_password": "x", "new_password": "y"}),
    ("post", "/me/2fa/totp", {}),
    ("post", "/me/2fa/totp/confirm", {"code": "123456"}),
    ("delete", "/me/2fa/totp", None),
    ("post", "/me/2fa/recovery-codes", {}),
    ("put", "/me/2fa/sms", {"enabled": True}),
    ("post", "/me/freeze", {"reason": "x"}),
    ("post", "/me/unfreeze/code", {}),
    ("post", "/me/unfreeze", {"password": "x", "sms_code": "123456"}),
    ("post", "/me/contact/email/start", {"new_value": "new@example.com"}),
    ("post", "/me/contact/email/confirm", {"new_value": "new@example.com", "old_code": "1", "new_code": "2"}),
    ("post", "/me/email/code", {"email": "alice@example.com"}),
    ("post", "/me/email/verify", {"email": "alice@example.com", "code": "123456"}),
    ("post", "/me/realname", {"name": "王小明", "id_number": "110101199003071233"}),
    ("post", "/me/closure", {}),
    ("delete", "/me/closure", None),
    ("delete", "/me/sessions/app/1", None),
    ("post", "/security/step-up/sms", {"purpose": "closure"}),
    ("post", "/security/step-up", {"purpose": "closure", "method": "sms", "code": "123456"}),
]


def call(client, method, path, body, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    fn = getattr(client, method)
    if body is not None:
        return fn("/api/v1" + path, data=json.dumps(body), content_type="application/json", **headers)
    return fn("/api/v1" + path, **headers)


def text_of(response) -> str:
    """The answer as readable text (JSON escapes Chinese as \\uXXXX)."""
    try:
        return json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        return response.content.decode()


@pytest.fixture
def alice_with_data(alice):
    realname_verify(user=alice, name="张秀英", id_number="310104195806154567")
    security_event_record(user=alice, kind="login", details={"network": "203.0.113.0/24"})
    return alice


@pytest.mark.parametrize(
    ("method", "path", "body"), CUSTOMER_ENDPOINTS, ids=[f"{m} {p}" for m, p, _b in CUSTOMER_ENDPOINTS]
)
def test_anonymous_gets_401_and_no_data(client, alice_with_data, method, path, body):
    r = call(client, method, path, body)
    assert r.status_code == 401, (path, r.content)
    assert r.json()["code"] == "not_authenticated"
    text = text_of(r)
    assert alice_with_data.public_id not in text and "张" not in text


@pytest.mark.parametrize(
    ("method", "path", "body"), CUSTOMER_ENDPOINTS, ids=[f"{m} {p}" for m, p, _b in CUSTOMER_ENDPOINTS]
)
def test_another_customer_never_sees_the_owners_data(
    client, alice_with_data, bob, api_token_for, method, path, body
):
    r = call(client, method, path, body, token=api_token_for(bob))
    assert r.status_code < 500, (path, r.content)
    text = text_of(r)
    assert alice_with_data.public_id not in text
    assert "张*英" not in text and "4567" not in text and "0001" not in text
    assert "203.0.113" not in text
    alice_with_data.refresh_from_db()
    assert alice_with_data.status == "active"


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/me", "user_id"),
        ("/me/realname", "张*英"),
        ("/me/security/events", "203.0.113.0/24"),
        ("/me/payment-class", '"code": "I"'),
        ("/me/realname/sources", '"sources_verified": 1'),
    ],
)
def test_the_owner_gets_their_own_data(client, alice_with_data, api_token_for, path, needle):
    r = call(client, "get", path, None, token=api_token_for(alice_with_data))
    assert r.status_code == 200 and needle in text_of(r)


def test_bob_cannot_revoke_alices_session_by_id(client, alice, bob, api_token_for):
    from okwallet.accounts.models import ApiToken

    api_token_for(alice)
    alice_token = ApiToken.objects.get(user=alice)
    r = call(client, "delete", f"/me/sessions/app/{alice_token.pk}", None, token=api_token_for(bob))
    assert r.status_code == 404
    alice_token.refresh_from_db()
    assert alice_token.revoked_at is None


def test_staff_freeze_is_refused_to_customers_and_anonymous(client, alice, bob, api_token_for):
    path = f"/staff/customers/{alice.public_id}/freeze"
    assert call(client, "post", path, {"reason": "abc"}).status_code == 401
    assert call(client, "post", path, {"reason": "abc"}, token=api_token_for(bob)).status_code == 403
    alice.refresh_from_db()
    assert alice.status == "active"


def test_session_writes_without_csrf_token_are_refused(alice):
    from django.test import Client

    c = Client(enforce_csrf_checks=True)
    c.force_login(alice)
    r = c.post("/api/v1/me/freeze", data="{}", content_type="application/json")
    assert r.status_code == 403
    alice.refresh_from_db()
    assert alice.status == "active"
