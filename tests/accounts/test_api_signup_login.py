"""Sign-up, codes, password rules, login with lockout and second factors, over the API."""

import pytest

from okwallet.accounts.models import OneTimeCode, SecurityEvent, User
from okwallet.core.models import Notification
from tests.accounts.conftest import totp_now

NEW_PHONE = "+8613912345678"
GOOD_PASSWORD = "Lantern-river-77"


def signup(api, last_code, phone=NEW_PHONE, password=GOOD_PASSWORD, **extra):
    assert api.post("/auth/signup/code", {"phone": phone}).status_code == 202
    return api.post("/auth/signup", {"phone": phone, "code": last_code(phone), "password": password, **extra})


def test_sign_up_with_phone_code_creates_customer_with_public_id_and_token(api, last_code):
    response = signup(api, last_code, email="new@example.com", display_name="小新")
    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(phone=NEW_PHONE)
    assert body["user_id"] == user.public_id and len(user.public_id) == 9
    assert user.phone_verified and not user.email_verified
    assert user.password.startswith(("argon2", "md5"))
    me = api.get("/me", token=body["token"]).json()
    assert me["phone_masked"] == "139****5678"
    # The optional email gets its own code; verifying it marks the email verified.
    code = last_code("new@example.com")
    assert (
        api.post(
            "/me/email/verify", {"email": "new@example.com", "code": code}, token=body["token"]
        ).status_code
        == 200
    )
    user.refresh_from_db()
    assert user.email_verified


def test_signup_stores_the_number_in_e164_whatever_the_format(api, last_code):
    api.post("/auth/signup/code", {"phone": "139 1234 5678"})
    response = api.post(
        "/auth/signup",
        {"phone": "+86 139-1234-5678", "code": last_code(NEW_PHONE), "password": GOOD_PASSWORD},
    )
    assert response.status_code == 201
    assert User.objects.filter(phone=NEW_PHONE).exists()


@pytest.mark.parametrize("phone", ["12345", "1381234567", "23812345678", "+1 415 555 0100", "abc", ""])
def test_malformed_phone_numbers_are_refused_with_422(api, phone):
    response = api.post("/auth/signup/code", {"phone": phone})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_phone"
    assert not OneTimeCode.objects.exists()


def test_wrong_code_counts_tries_and_the_fifth_locks_the_code(api, last_code):
    api.post("/auth/signup/code", {"phone": NEW_PHONE})
    right = last_code(NEW_PHONE)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        r = api.post("/auth/signup", {"phone": NEW_PHONE, "code": wrong, "password": GOOD_PASSWORD})
        assert r.status_code == 422 and r.json()["code"] == "code_invalid"
        assert r.json()["details"]["tries_left"] == left
    r = api.post("/auth/signup", {"phone": NEW_PHONE, "code": wrong, "password": GOOD_PASSWORD})
    assert r.status_code == 429 and r.json()["code"] == "code_locked"
    # Even the right code no longer works: brute force gains nothing.
    r = api.post("/auth/signup", {"phone": NEW_PHONE, "code": right, "password": GOOD_PASSWORD})
    assert r.status_code == 429
    assert not User.objects.filter(phone=NEW_PHONE).exists()


def test_expired_code_is_refused(api, last_code):
    from datetime import timedelta

    from okwallet.core.timeutil import now_utc

    api.post("/auth/signup/code", {"phone": NEW_PHONE})
    code = last_code(NEW_PHONE)
    OneTimeCode.objects.update(expires_at=now_utc() - timedelta(seconds=1))
    r = api.post("/auth/signup", {"phone": NEW_PHONE, "code": code, "password": GOOD_PASSWORD})
    assert r.status_code == 422 and r.json()["code"] == "code_expired"


def test_a_used_code_cannot_be_replayed(api, last_code, alice):
    api.post("/auth/signup/code", {"phone": NEW_PHONE})
    code = last_code(NEW_PHONE)
    assert (
        api.post("/auth/signup", {"phone": NEW_PHONE, "code": code, "password": GOOD_PASSWORD}).status_code
        == 201
    )
    User.objects.filter(phone=NEW_PHONE).delete()
    r = api.post("/auth/signup", {"phone": NEW_PHONE, "code": code, "password": GOOD_PASSWORD})
    assert r.status_code == 422 and r.json()["code"] == "code_used"


def test_sending_is_limited_to_one_a_minute_with_retry_after(api, fresh_minute_window):
    assert api.post("/auth/signup/code", {"phone": NEW_PHONE}).status_code == 202
    r = api.post("/auth/signup/code", {"phone": NEW_PHONE})
    assert r.status_code == 429
    assert r.json()["code"] == "code_send_too_soon"
    assert 1 <= int(r["Retry-After"]) <= 61


def test_sending_is_limited_to_ten_a_day(api, settings):
    from okwallet.accounts.codes import code_send
    from okwallet.core.errors import RateLimited

    settings.OKWALLET_CODE_SENDS_PER_MINUTE = 100
    for _i in range(10):
        code_send(purpose="signup", target=NEW_PHONE)
    with pytest.raises(RateLimited) as err:
        code_send(purpose="signup", target=NEW_PHONE)
    assert err.value.code == "code_send_daily_limit"


def test_signup_code_for_a_registered_number_answers_the_same_and_warns_the_owner(api, alice):
    r = api.post("/auth/signup/code", {"phone": alice.phone})
    assert r.status_code == 202
    assert not OneTimeCode.objects.filter(target=alice.phone).exists()
    assert Notification.objects.filter(to_address=alice.phone, kind="signup_existing").exists()


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short7!", "password_too_short"),
        ("password", "password_too_common"),
        ("woaini1314", "password_too_common"),
        ("5201314a", "password_too_common"),
        ("19900307", "password_too_common"),
        ("qwertyuiop", "password_too_common"),
        ("x13912345678x", "password_contains_phone"),
    ],
)
def test_weak_passwords_are_refused_each_with_its_own_message(api, last_code, password, code):
    api.post("/auth/signup/code", {"phone": NEW_PHONE})
    r = api.post("/auth/signup", {"phone": NEW_PHONE, "code": last_code(NEW_PHONE), "password": password})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "weak_password"
    codes = [p["code"] for p in body["details"]["problems"]]
    assert code in codes
    assert all(p["message"] for p in body["details"]["problems"])
    assert not User.objects.filter(phone=NEW_PHONE).exists()
    # The code was not used up by a refused password: the customer can try a better one.
    assert OneTimeCode.objects.get(target=NEW_PHONE).used_at is None


def test_password_must_not_contain_user_id_or_birth_date(alice):
    from okwallet.accounts.flows import password_validate
    from okwallet.accounts.services import realname_verify
    from okwallet.core.errors import InvalidInput

    realname_verify(user=alice, name="王小明", id_number="110101199003071233")
    for password, code in [
        (f"ok{alice.public_id}!", "password_contains_public_id"),
        ("Me-19900307-x", "password_contains_birth"),
        ("Me-900307-abc", "password_contains_birth"),
    ]:
        with pytest.raises(InvalidInput) as err:
            password_validate(password, user=alice)
        assert code in [p["code"] for p in err.value.details["problems"]]


def test_the_last_five_passwords_cannot_be_reused(alice, password):
    from okwallet.accounts.flows import password_validate
    from okwallet.core.errors import InvalidInput

    history = [password] + [f"Rotate-pass-{n}x" for n in range(5)]
    for new in history[1:]:
        alice.set_password(new)
        alice.save()
    with pytest.raises(InvalidInput) as err:
        password_validate(history[-1], user=alice)
    assert err.value.details["problems"][0]["code"] == "password_reused"
    password_validate(history[0], user=alice)  # six back: allowed again


def test_login_gives_identical_answers_for_unknown_and_known_accounts(api, alice):
    unknown = api.post("/auth/token", {"identifier": "13999999999", "password": "Nope-nope-1"})
    known = api.post("/auth/token", {"identifier": alice.phone, "password": "Nope-nope-1"})
    assert unknown.status_code == known.status_code == 401
    assert unknown.json() == known.json()


def test_five_failures_lock_the_account_with_429_and_retry_after_even_for_the_right_password(
    api, alice, password, fresh_lock_window
):
    for _i in range(5):
        api.post("/auth/token", {"identifier": "13800000001", "password": "Wrong-pass-1"})
    r = api.post("/auth/token", {"identifier": "13800000001", "password": password}, ip="198.51.100.9")
    assert r.status_code == 429
    assert r.json()["code"] == "login_locked"
    assert int(r["Retry-After"]) > 0
    # Unknown accounts lock the same way (no enumeration through the lockout).
    for _i in range(5):
        api.post("/auth/token", {"identifier": "13999999999", "password": "Wrong-pass-1"})
    assert (
        api.post("/auth/token", {"identifier": "13999999999", "password": "x"}).json()["code"]
        == "login_locked"
    )


def test_many_failures_from_one_ip_lock_that_ip(api, settings, make_customer, fresh_lock_window):
    settings.OKWALLET_LOGIN_FAILS_PER_IP = 6
    for n in range(6):
        api.post(
            "/auth/token", {"identifier": f"1390000{n:04d}", "password": "Wrong-pass-1"}, ip="192.0.2.50"
        )
    r = api.post("/auth/token", {"identifier": "13900009999", "password": "x"}, ip="192.0.2.50")
    assert r.status_code == 429 and r.json()["code"] == "login_ip_locked"
    other_ip = api.post("/auth/token", {"identifier": "13900009999", "password": "x"}, ip="192.0.2.51")
    assert other_ip.status_code == 401


def test_login_with_totp_needs_the_second_step(api, alice, password, enable_totp):
    enable_totp(alice)
    r = api.post("/auth/token", {"identifier": alice.phone, "password": password})
    assert r.status_code == 202
    challenge = r.json()["challenge"]
    assert "totp" in r.json()["methods"]
    ok = api.post(
        "/auth/token/second-factor", {"challenge": challenge, "method": "totp", "code": totp_now(alice)}
    )
    assert ok.status_code == 201
    assert api.get("/me", token=ok.json()["token"]).json()["user_id"] == alice.public_id


def test_recovery_codes_work_once(api, alice, password, enable_totp):
    codes = enable_totp(alice)
    assert len(codes) == 10
    challenge = api.post("/auth/token", {"identifier": alice.phone, "password": password}).json()["challenge"]
    body = {"challenge": challenge, "method": "recovery_code", "code": codes[0]}
    assert api.post("/auth/token/second-factor", body).status_code == 201
    again = api.post("/auth/token/second-factor", body)
    assert again.status_code == 422 and again.json()["code"] == "recovery_code_invalid"


def test_login_with_sms_second_factor(api, alice, password, last_code):
    User.objects.filter(pk=alice.pk).update(sms_second_factor=True)
    r = api.post("/auth/token", {"identifier": alice.public_id, "password": password})
    assert r.status_code == 202 and r.json()["methods"] == ["sms"]
    challenge = r.json()["challenge"]
    assert api.post("/auth/token/sms-code", {"challenge": challenge}).status_code == 202
    ok = api.post(
        "/auth/token/second-factor", {"challenge": challenge, "method": "sms", "code": last_code(alice.phone)}
    )
    assert ok.status_code == 201


def test_forged_challenge_is_refused(api):
    r = api.post("/auth/token/second-factor", {"challenge": "forged:abc", "method": "totp", "code": "123456"})
    assert r.status_code == 401 and r.json()["code"] == "challenge_invalid"


def test_login_from_new_device_and_network_alerts_with_a_not_me_link(api, alice, password, client):
    first = api.post("/auth/token", {"identifier": alice.phone, "password": password, "device_id": "phone-1"})
    assert first.status_code == 201
    assert not Notification.objects.filter(
        user=alice, kind="login_alert"
    ).exists()  # first device: nothing to compare
    same = api.post("/auth/token", {"identifier": alice.phone, "password": password, "device_id": "phone-1"})
    assert same.status_code == 201
    assert not Notification.objects.filter(user=alice, kind="login_alert").exists()
    api.post(
        "/auth/token",
        {"identifier": alice.phone, "password": password, "device_id": "stranger"},
        ip="198.51.100.200",
    )
    alerts = Notification.objects.filter(user=alice, kind="login_alert")
    assert {a.channel for a in alerts} == {"sms", "email"}
    event = SecurityEvent.objects.filter(user=alice, kind="login").first()
    assert set(event.details["anomalies"]) == {"new_device", "new_network"}
    import re

    link = re.search(r"https?://\S+", alerts.first().body).group(0)
    path = link.split("testserver", 1)[1]
    assert client.get(path).status_code == 200  # a confirmation page; GET changes nothing
    alice.refresh_from_db()
    assert alice.status == User.Status.ACTIVE
    assert client.post(path).status_code in (200, 302)
    alice.refresh_from_db()
    assert alice.status == User.Status.FROZEN


def test_same_network_within_ninety_days_is_not_new(alice, rf):
    from okwallet.accounts.auth import login_completed, network_of

    assert network_of("203.0.113.99") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
    request = rf.get("/", REMOTE_ADDR="203.0.113.7")
    login_completed(request=request, user=alice, device_id="d1")
    request = rf.get("/", REMOTE_ADDR="203.0.113.250")
    assert login_completed(request=request, user=alice, device_id="d1")["anomalies"] == []


def test_wrong_totp_code_is_refused(api, alice, password, enable_totp):
    enable_totp(alice)
    challenge = api.post("/auth/token", {"identifier": alice.phone, "password": password}).json()["challenge"]
    wrong = f"{(int(totp_now(alice)) + 1) % 1_000_000:06d}"
    bad = api.post("/auth/token/second-factor", {"challenge": challenge, "method": "totp", "code": wrong})
    assert bad.status_code == 422 and bad.json()["code"] == "totp_invalid"


def test_repeated_signup_codes_answer_the_same_for_registered_and_new_numbers(
    api, alice, fresh_minute_window
):
    registered = [api.post("/auth/signup/code", {"phone": alice.phone}) for _i in range(2)]
    new = [api.post("/auth/signup/code", {"phone": NEW_PHONE}) for _i in range(2)]
    assert [r.status_code for r in registered] == [r.status_code for r in new] == [202, 429]
    assert registered[1].json() == new[1].json() | {"details": registered[1].json()["details"]}
