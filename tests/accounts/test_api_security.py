"""Step-up, password reset, freeze/unfreeze, contact change and closure over the API."""

from datetime import timedelta

import pytest

from okwallet.accounts import closure
from okwallet.accounts.models import ApiToken, ClosureRequest, RealName, User
from okwallet.accounts.services import realname_verify
from okwallet.core.models import Notification
from okwallet.core.timeutil import now_utc
from tests.accounts.conftest import totp_now

NEW_PASSWORD = "Brand-new-lantern-9"


@pytest.fixture
def token(alice, api_token_for):
    return api_token_for(alice)


def step_up(api, token, alice, last_code, purpose):
    assert api.post("/security/step-up/sms", {"purpose": purpose}, token=token).status_code == 202
    r = api.post(
        "/security/step-up",
        {"purpose": purpose, "method": "sms", "code": last_code(alice.phone)},
        token=token,
    )
    assert r.status_code == 201, r.content


def test_step_up_is_required_then_used_up(api, token, alice, last_code, rf):
    from okwallet.accounts.stepup import step_up_require
    from okwallet.core.errors import OkError

    request = rf.post("/")
    request.auth = request.user = alice
    request.api_token = ApiToken.objects.get(user=alice)
    with pytest.raises(OkError) as err:
        step_up_require(request, "withdrawal")
    assert err.value.code == "step_up_required" and err.value.http_status == 403
    assert "sms" in err.value.details["methods"]
    step_up(api, token, alice, last_code, "withdrawal")
    step_up_require(request, "withdrawal")  # passes once
    with pytest.raises(OkError):
        step_up_require(request, "withdrawal")  # and is used up


def test_a_pass_for_one_purpose_or_token_does_not_cover_another(api, token, alice, last_code, api_token_for):
    step_up(api, token, alice, last_code, "new_payee")
    other = api_token_for(alice)
    assert api.delete("/me/2fa/totp", token=token).json()["code"] == "step_up_required"
    assert api.post("/me/closure", {}, token=other).json()["code"] == "step_up_required"


def test_wrong_step_up_code_is_refused(api, token, alice, last_code):
    api.post("/security/step-up/sms", {"purpose": "closure"}, token=token)
    wrong = f"{(int(last_code(alice.phone)) + 1) % 1_000_000:06d}"
    r = api.post("/security/step-up", {"purpose": "closure", "method": "sms", "code": wrong}, token=token)
    assert r.status_code == 422 and r.json()["code"] == "code_invalid"


def test_forgot_password_without_2fa_or_realname_needs_only_the_code_and_revokes_sessions(
    api, alice, token, last_code, password
):
    assert api.post("/auth/password-reset/code", {"phone": "13800000001"}).status_code == 202
    step = api.post(
        "/auth/password-reset/verify", {"phone": "13800000001", "code": last_code(alice.phone)}
    ).json()
    reset_token = step["reset_token"]
    r = api.post("/auth/password-reset", {"reset_token": reset_token, "new_password": NEW_PASSWORD})
    assert r.status_code == 204
    assert api.get("/me", token=token).status_code == 401  # every session revoked
    assert Notification.objects.filter(user=alice, kind="password_reset").exists()
    assert api.post("/auth/token", {"identifier": alice.phone, "password": NEW_PASSWORD}).status_code == 201
    replay = api.post(
        "/auth/password-reset", {"reset_token": reset_token, "new_password": "Other-new-pass-3"}
    )
    assert replay.status_code == 410 and replay.json()["code"] == "reset_token_used"
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_forgot_password_with_realname_asks_for_id_digits(api, alice, last_code):
    realname_verify(user=alice, name="王小明", id_number="110101199003071233")
    api.post("/auth/password-reset/code", {"phone": alice.phone})
    step = api.post(
        "/auth/password-reset/verify", {"phone": alice.phone, "code": last_code(alice.phone)}
    ).json()
    assert step["needs"] == ["id_last6"] and step["reset_token"] is None
    bad = api.post("/auth/password-reset/identity", {"challenge": step["challenge"], "id_last6": "000000"})
    assert bad.status_code == 422 and bad.json()["code"] == "id_last6_mismatch"
    ok = api.post("/auth/password-reset/identity", {"challenge": step["challenge"], "id_last6": "071233"})
    assert ok.status_code == 200 and ok.json()["reset_token"]


def test_forgot_password_with_totp_asks_for_the_second_factor(api, alice, last_code, enable_totp):
    enable_totp(alice)
    api.post("/auth/password-reset/code", {"phone": alice.phone})
    step = api.post(
        "/auth/password-reset/verify", {"phone": alice.phone, "code": last_code(alice.phone)}
    ).json()
    assert step["needs"] == ["second_factor"]
    ok = api.post(
        "/auth/password-reset/identity",
        {"challenge": step["challenge"], "method": "totp", "second_factor": totp_now(alice)},
    )
    assert ok.status_code == 200


def test_forgot_password_for_unknown_number_answers_the_same_and_sends_nothing(api, db):
    r = api.post("/auth/password-reset/code", {"phone": "13700000000"})
    assert r.status_code == 202
    assert not Notification.objects.exists()


def test_reset_link_that_is_made_up_or_expired_is_refused(api, alice, last_code):
    assert (
        api.post("/auth/password-reset", {"reset_token": "nope", "new_password": NEW_PASSWORD}).status_code
        == 400
    )
    api.post("/auth/password-reset/code", {"phone": alice.phone})
    reset_token = api.post(
        "/auth/password-reset/verify", {"phone": alice.phone, "code": last_code(alice.phone)}
    ).json()["reset_token"]
    from okwallet.accounts.models import ResetGrant

    ResetGrant.objects.update(expires_at=now_utc() - timedelta(seconds=1))
    r = api.post("/auth/password-reset", {"reset_token": reset_token, "new_password": NEW_PASSWORD})
    assert r.status_code == 400 and r.json()["code"] == "reset_token_invalid"


def test_reset_unlocks_a_locked_account(api, alice, last_code, fresh_lock_window):
    for _i in range(5):
        api.post("/auth/token", {"identifier": alice.phone, "password": "Wrong-pass-1"})
    assert api.post("/auth/token", {"identifier": alice.phone, "password": "x"}).status_code == 429
    api.post("/auth/password-reset/code", {"phone": alice.phone})
    t = api.post("/auth/password-reset/verify", {"phone": alice.phone, "code": last_code(alice.phone)}).json()
    api.post("/auth/password-reset", {"reset_token": t["reset_token"], "new_password": NEW_PASSWORD})
    assert api.post("/auth/token", {"identifier": alice.phone, "password": NEW_PASSWORD}).status_code == 201


def test_self_freeze_then_unfreeze_needs_password_code_and_id_digits(
    api, alice, password, last_code, api_token_for
):
    realname_verify(user=alice, name="王小明", id_number="110101199003071233")
    token = api_token_for(alice)
    assert api.post("/me/freeze", {"reason": "lost phone"}, token=token).json()["status"] == "frozen"
    alice.refresh_from_db()
    assert alice.status == User.Status.FROZEN
    # Freezing signs out the apps (a thief holding the phone loses access).
    assert api.get("/me", token=token).status_code == 401
    token = api_token_for(alice)
    assert (
        api.post(
            "/me/password", {"old_password": password, "new_password": NEW_PASSWORD}, token=token
        ).status_code
        == 403
    )
    assert api.get("/me/unfreeze", token=token).json()["needs"] == ["password", "sms", "id_last6"]
    api.post("/me/unfreeze/code", token=token)
    code = last_code(alice.phone)
    bad = api.post(
        "/me/unfreeze", {"password": password, "sms_code": code, "id_last6": "999999"}, token=token
    )
    assert bad.status_code == 422 and bad.json()["code"] == "id_last6_mismatch"
    alice.refresh_from_db()
    assert alice.status == User.Status.FROZEN


def test_unfreeze_succeeds_with_full_verification(api, alice, password, last_code, api_token_for, settings):
    settings.OKWALLET_CODE_SENDS_PER_MINUTE = 5
    token = api_token_for(alice)
    api.post("/me/freeze", {}, token=token)
    token = api_token_for(alice)
    api.post("/me/unfreeze/code", token=token)
    r = api.post("/me/unfreeze", {"password": password, "sms_code": last_code(alice.phone)}, token=token)
    assert r.status_code == 200 and r.json()["status"] == "active"
    alice.refresh_from_db()
    assert alice.status == User.Status.ACTIVE


def test_agent_freeze_needs_staff_and_a_reason_and_is_audited(api, alice, agent, bob, api_token_for):
    from okwallet.core.models import AuditLogEntry

    r = api.post(
        f"/staff/customers/{alice.public_id}/freeze",
        {"reason": "caller verified, lost phone"},
        token=api_token_for(bob),
    )
    assert r.status_code == 403
    r = api.post(
        f"/staff/customers/{alice.public_id}/freeze",
        {"reason": "caller verified, lost phone"},
        token=api_token_for(agent),
    )
    assert r.status_code == 200
    assert AuditLogEntry.objects.filter(action="security.account_frozen", actor=agent).exists()


def test_hotline_caller_verification_by_number_or_id_digits(alice, bob):
    from okwallet.accounts.services import hotline_caller_verify

    realname_verify(user=bob, name="李华", id_number="44030519951120789X")
    assert hotline_caller_verify(caller_phone="13800000001") == alice
    assert hotline_caller_verify(public_id=bob.public_id, id_last4="789x") == bob
    assert hotline_caller_verify(public_id=bob.public_id, id_last4="0000") is None
    assert hotline_caller_verify(public_id=alice.public_id, id_last4="1233") is None  # alice has no realname


def test_contact_change_verifies_old_and_new_number(api, alice, token, last_code, settings):
    new = "+8613911112222"
    assert api.post("/me/contact/phone/start", {"new_value": "139 1111 2222"}, token=token).status_code == 202
    old_code = last_code(alice.phone)
    wrong = api.post(
        "/me/contact/phone/confirm",
        {"new_value": new, "old_code": old_code, "new_code": old_code},
        token=token,
    )
    assert wrong.status_code == 422
    alice.refresh_from_db()
    assert alice.phone == "+8613800000001"
    settings.OKWALLET_CODE_SENDS_PER_MINUTE = 5
    api.post("/me/contact/phone/start", {"new_value": new}, token=token)
    r = api.post(
        "/me/contact/phone/confirm",
        {"new_value": new, "old_code": last_code(alice.phone), "new_code": last_code(new)},
        token=token,
    )
    assert r.status_code == 200
    alice.refresh_from_db()
    assert alice.phone == new
    assert Notification.objects.filter(to_address="+8613800000001", kind="contact_changed").exists()


def test_contact_change_to_a_number_in_use_is_refused(api, alice, bob, token):
    r = api.post("/me/contact/phone/start", {"new_value": bob.phone}, token=token)
    assert r.status_code == 409 and r.json()["code"] == "phone_taken"


def test_closure_with_money_left_is_refused_and_changes_nothing(api, alice, token, monkeypatch):
    from okwallet.core import hooks

    def blockers(user):
        return [{"code": "balance_not_zero", "message": "余额 ¥12.00 未提现"}]

    monkeypatch.setattr(
        hooks, "_implementations", lambda name: (blockers,) if name == "closure_blockers" else ()
    )
    assert api.get("/me/closure", token=token).json()["blockers"][0]["code"] == "balance_not_zero"
    r = api.post("/me/closure", {}, token=token)
    assert r.status_code == 409 and r.json()["code"] == "closure_blocked"
    assert r.json()["details"]["blockers"][0]["code"] == "balance_not_zero"
    alice.refresh_from_db()
    assert alice.status == User.Status.ACTIVE and not ClosureRequest.objects.exists()


def test_closure_cooling_off_cancel_and_request_again(api, alice, token, last_code, settings):
    settings.OKWALLET_CODE_SENDS_PER_MINUTE = 5
    assert api.post("/me/closure", {}, token=token).json()["code"] == "step_up_required"
    step_up(api, token, alice, last_code, "closure")
    r = api.post("/me/closure", {"reason": "moving abroad"}, token=token)
    assert r.status_code == 201
    pending_until = r.json()["pending_until"]
    assert pending_until
    alice.refresh_from_db()
    assert alice.status == User.Status.CLOSING
    row = ClosureRequest.objects.get(user=alice)
    assert timedelta(days=6, hours=23) < row.effective_at - row.requested_at <= timedelta(days=7, minutes=1)
    assert api.delete("/me/closure", token=token).json()["status"] == "active"
    alice.refresh_from_db()
    assert alice.status == User.Status.ACTIVE
    assert api.delete("/me/closure", token=token).status_code == 409


def test_closure_job_closes_irreversibly_after_cooling_off_and_runs_the_hook(alice, monkeypatch):
    from okwallet.core import hooks

    closed = []
    monkeypatch.setattr(
        hooks, "_implementations", lambda name: (closed.append,) if name == "on_account_closed" else ()
    )
    realname_verify(user=alice, name="王小明", id_number="110101199003071233")
    row = closure.closure_request(user=alice)
    assert closure.closures_due() == 0  # still cooling off
    ClosureRequest.objects.filter(pk=row.pk).update(effective_at=now_utc() - timedelta(minutes=1))
    assert closure.closures_due() == 1
    alice.refresh_from_db()
    assert alice.status == User.Status.CLOSED and not alice.is_active and not alice.has_usable_password()
    assert closed == [alice]
    assert Notification.objects.filter(user=alice, kind="account_closed").exists()
    from django.contrib.auth import authenticate

    assert authenticate(username=alice.phone, password="Correct-Horse-42") is None


def test_anonymisation_after_retention_keeps_the_user_id_forever(alice):
    from okwallet.accounts.services import new_public_id

    realname_verify(user=alice, name="王小明", id_number="110101199003071233")
    closure.closure_request(user=alice)
    ClosureRequest.objects.update(effective_at=now_utc())
    closure.closures_due()
    public_id = User.objects.get(pk=alice.pk).public_id
    assert closure.anonymise_due() == 0  # within 5 years
    User.objects.filter(pk=alice.pk).update(closed_at=now_utc() - timedelta(days=5 * 365 + 2))
    assert closure.anonymise_due() == 1
    alice.refresh_from_db()
    assert alice.phone is None and alice.email == "" and alice.display_name == ""
    assert alice.public_id == public_id and alice.anonymised_at
    assert not RealName.objects.filter(user=alice).exists()
    assert all(new_public_id() != public_id for _i in range(50))
    assert closure.anonymise_due() == 0  # idempotent


def test_totp_disable_needs_step_up(api, alice, token, enable_totp, last_code):
    enable_totp(alice)
    assert api.delete("/me/2fa/totp", token=token).status_code == 403
    step_up(api, token, alice, last_code, "disable_2fa")
    assert api.delete("/me/2fa/totp", token=token).status_code == 204
    assert api.get("/me/security", token=token).json()["totp_enabled"] is False


def test_sessions_list_and_logout_everywhere(api, alice, password):
    tokens = [
        api.post("/auth/token", {"identifier": alice.phone, "password": password}).json()["token"]
        for _i in range(3)
    ]
    listed = api.get("/me/sessions", token=tokens[0]).json()
    assert len([s for s in listed if s["kind"] == "app"]) == 3
    assert sum(s["current"] for s in listed) == 1
    other_id = next(s["id"] for s in listed if s["kind"] == "app" and not s["current"])
    assert api.delete(f"/me/sessions/app/{other_id}", token=tokens[0]).status_code == 204
    assert api.post("/me/sessions/logout-all", token=tokens[0]).json()["revoked"] == 1
    assert api.get("/me", token=tokens[0]).status_code == 200
    assert all(api.get("/me", token=t).status_code == 401 for t in tokens[1:])


def test_payment_class_api_shows_class_and_upgrade_path(api, alice, token):
    assert api.get("/me/payment-class", token=token).json()["code"] is None
    api.post("/me/realname", {"name": "王小明", "id_number": "110101199003071233"}, token=token)
    body = api.get("/me/payment-class", token=token).json()
    assert body["code"] == "I" and body["limit_fen"] == 100_000 and body["period"] == "lifetime"
    assert [u["code"] for u in body["upgrade"]] == ["II", "III"]


def test_realname_api_rejects_bad_id_numbers_with_specific_codes(api, token):
    r = api.post("/me/realname", {"name": "王小明", "id_number": "110101199003071234"}, token=token)
    assert r.status_code == 422 and r.json()["code"] == "id_number_checksum"


def test_repeated_reset_requests_answer_the_same_for_known_and_unknown_numbers(
    api, alice, fresh_minute_window
):
    known = [api.post("/auth/password-reset/code", {"phone": alice.phone}) for _i in range(2)]
    unknown = [api.post("/auth/password-reset/code", {"phone": "13700000000"}) for _i in range(2)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [202, 429]
    assert known[1].json()["code"] == unknown[1].json()["code"] == "code_send_too_soon"
