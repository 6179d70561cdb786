"""Menu 2: freeze at once after verifying the caller; never unfreeze by phone; works 24/7."""

from __future__ import annotations

import pytest

from okwallet.core.audit import AuditLogEntry
from okwallet.core.models import Notification
from okwallet.voice.models import Call
from tests.voice.conftest import Phone


@pytest.fixture
def alice_calls(client, twilio_token, alice):
    return Phone(client, from_number=alice.phone)


def test_registered_number_freezes_after_confirmation(alice_calls, alice, open_hours):
    alice_calls.dial()
    reply = alice_calls.press("2")
    assert "立即冻结账户，请按1" in reply.says()
    reply = alice_calls.press("1")
    assert "尾号0 0 0 1" in reply.says()
    reply = alice_calls.press("1")
    assert "您的账户已冻结" in reply.says()
    assert "电话无法解冻账户" in reply.says()
    alice.refresh_from_db()
    assert alice.status == "frozen"
    call = Call.objects.get(call_sid=alice_calls.sid)
    assert call.outcome == Call.Outcome.FROZEN and "frozen" in call.ivr_path
    assert AuditLogEntry.objects.filter(action="voice.freeze_by_phone", object_id=str(call.pk)).exists()
    assert Notification.objects.filter(user=alice, channel="sms", kind="account_frozen").exists()
    # During hours the caller may still reach a person; no unfreeze option is ever offered.
    assert "人工协助请按0" in reply.says()
    assert "解冻请按" not in reply.says()


def test_star_at_the_confirmation_goes_back_without_freezing(alice_calls, alice, open_hours):
    alice_calls.dial()
    alice_calls.press("2")
    alice_calls.press("1")
    reply = alice_calls.press("*")
    assert "立即冻结账户，请按1" in reply.says()
    alice.refresh_from_db()
    assert alice.status == "active"


def test_freezing_an_already_frozen_account_says_so(alice_calls, alice, open_hours):
    alice.status = "frozen"
    alice.save()
    alice_calls.dial()
    alice_calls.press("2")
    alice_calls.press("1")
    reply = alice_calls.press("1")
    assert "已处于冻结状态" in reply.says()


def test_freeze_works_at_night_from_the_closed_menu(alice_calls, alice, closed_hours):
    reply = alice_calls.dial()
    assert "需要立即冻结账户请按3" in reply.says()
    alice_calls.press("3")
    reply = alice_calls.press("1")
    assert "您的账户已冻结" in reply.says()
    assert reply.hangs_up()
    alice.refresh_from_db()
    assert alice.status == "frozen"


def test_unknown_number_is_verified_by_user_id_and_id_last4(phone, alice, verified):
    """The ID number's last 4 come from accounts' real-name record."""
    verified(alice, id_last6="01123X")
    phone.dial()
    phone.press("2")
    reply = phone.press("1")
    assert "请输入您的用户ID" in reply.says()
    reply = phone.press(f"{alice.public_id}#")
    assert "身份证号码的后四位" in reply.says()
    reply = phone.press("123*")
    assert "您的账户已冻结" in reply.says()
    alice.refresh_from_db()
    assert alice.status == "frozen"
    call = Call.objects.get(call_sid=phone.sid)
    assert call.customer == alice and call.identified_by == "user_id"


def test_wrong_id_digits_never_freeze_and_three_failures_reach_security_agents(phone, alice, verified):
    verified(alice, id_last6="001234")
    phone.dial()
    phone.press("2")
    phone.press("1")
    for attempt in range(3):
        reply = phone.press(f"{alice.public_id}#")
        assert "身份证号码的后四位" in reply.says()
        reply = phone.press("9999")
    assert "核实失败次数过多" in reply.says()
    assert reply.enqueue().text == "security"
    alice.refresh_from_db()
    assert alice.status == "active"


def test_unknown_user_id_is_not_revealed(phone, db):
    phone.dial()
    phone.press("2")
    phone.press("1")
    reply = phone.press("999999999#")
    assert "身份证号码的后四位" in reply.says()  # same prompt as for a real user ID
    reply = phone.press("1234")
    assert "身份核实未通过" in reply.says()


def test_verification_attempts_are_rate_limited_across_calls(
    client, twilio_token, open_hours, alice, settings, verified
):
    settings.OKWALLET_VOICE_VERIFY_LIMIT = 2
    verified(alice, id_last6="001234")
    for _ in range(2):
        caller = Phone(client, from_number="+8613900000077")
        caller.dial()
        caller.press("2")
        caller.press("1")
        caller.press(f"{alice.public_id}#")
        caller.press("0000")
    caller = Phone(client, from_number="+8613900000077")
    caller.dial()
    caller.press("2")
    caller.press("1")
    caller.press(f"{alice.public_id}#")
    reply = caller.press("1234")  # right digits, but the line is locked out
    assert "核实失败次数过多" in reply.says()
    alice.refresh_from_db()
    assert alice.status == "active"


def test_the_24h_security_line_goes_straight_to_freezing_at_night(client, twilio_token, closed_hours, alice):
    from okwallet.contact.defaults import ensure_default_contact

    ensure_default_contact()
    caller = Phone(client, from_number=alice.phone)
    reply = caller.post("/voice/twilio/incoming", To="+864008206600")
    assert "即将冻结尾号" in reply.says() and "留言请按1" not in reply.says()
    reply = caller.press("1")
    assert "您的账户已冻结" in reply.says()
    alice.refresh_from_db()
    assert alice.status == "frozen"
