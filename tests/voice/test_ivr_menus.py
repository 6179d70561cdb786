"""Whole calls through the menus, as sequences of signed Twilio webhooks; TwiML parsed and checked."""

from __future__ import annotations

import pytest

from okwallet.voice.models import Call, CallEvent
from tests.voice.conftest import Phone


def _call(phone: Phone) -> Call:
    return Call.objects.get(call_sid=phone.sid)


def test_greeting_is_mandarin_with_fraud_warning_and_main_menu(phone):
    reply = phone.dial()
    assert reply.status == 200
    assert "欢迎致电OK钱包" in reply.says()
    assert "不会向您索要短信验证码或密码" in reply.says()
    gather = reply.gather()
    assert gather is not None and gather.get("numDigits") == "1"
    assert "zh-CN" in reply.say_languages()
    assert "存款与提现问题请按1" in " ".join(el.text for el in gather.iter("Say"))
    assert gather.get("actionOnEmptyResult") == "true"
    call = _call(phone)
    assert call.status == Call.Status.IVR and call.node == "main_menu"
    assert call.ivr_path == ["greeting"]


def test_pressing_9_switches_the_menu_to_english(phone):
    phone.dial()
    reply = phone.press("9")
    assert "For deposits and withdrawals, press 1" in reply.says()
    assert reply.say_languages() == {"en-US"}
    assert _call(phone).language == "en"


def test_deposits_reference_is_kept_with_the_call_and_joins_the_deposits_queue(phone):
    phone.dial()
    reply = phone.press("1")
    assert reply.gather().get("finishOnKey") == "#"
    assert "交易单号" in reply.says()
    reply = phone.press("20261201123456#")
    enqueue = reply.enqueue()
    assert enqueue is not None and enqueue.text == "deposits"
    assert enqueue.get("waitUrl").startswith("/voice/twilio/wait")
    call = _call(phone)
    assert call.reference == "20261201123456"
    assert call.status == Call.Status.QUEUED and call.queue == "deposits"
    assert [d["digits"] for d in call.digits] == ["1", "20261201123456#"]
    assert call.ivr_path[:3] == ["greeting", "menu:1", "reference"]


def test_deposits_without_reference_goes_straight_to_the_queue(phone):
    phone.dial()
    phone.press("1")
    reply = phone.press("#")
    assert reply.enqueue().text == "deposits"
    assert _call(phone).reference == ""


def test_complaints_go_to_the_senior_managers_queue(phone):
    phone.dial()
    reply = phone.press("3")
    assert "高级客服经理" in reply.says()
    assert reply.enqueue().text == "complaints"
    assert _call(phone).topic == Call.Topic.COMPLAINT


def test_closure_explains_the_preconditions_then_queues(phone):
    phone.dial()
    reply = phone.press("4")
    assert "余额已清零" in reply.says()
    assert reply.enqueue().text == "account"


@pytest.mark.parametrize("path", [[], ["1"], ["2"]])
def test_zero_reaches_a_person_from_any_menu_level(phone, path):
    phone.dial()
    for key in path:
        phone.press(key)
    reply = phone.press("0")
    assert reply.enqueue() is not None
    call = _call(phone)
    assert call.status == Call.Status.QUEUED
    assert call.asked_person_at is not None


def test_saying_rengong_reaches_a_person(phone):
    phone.dial()
    reply = phone.say("我要转人工")
    assert reply.enqueue().text == "person"


def test_invalid_key_repeats_the_menu_then_routes_to_a_person(phone):
    phone.dial()
    reply = phone.press("7")
    assert "输入有误" in reply.says()
    assert reply.gather() is not None
    reply = phone.press("6")
    assert reply.enqueue().text == "person"
    assert "main_menu:fallback" in _call(phone).ivr_path


def test_no_input_repeats_the_menu_then_routes_to_a_person(phone):
    phone.dial()
    reply = phone.silence()
    assert "没有收到您的按键" in reply.says()
    assert reply.gather() is not None
    reply = phone.silence()
    assert reply.enqueue() is not None


def test_star_repeats_without_counting_as_a_failure(phone):
    phone.dial()
    phone.press("*")
    phone.press("*")
    reply = phone.press("*")
    assert reply.gather() is not None and reply.enqueue() is None


def test_hanging_up_mid_menu_ends_the_call_as_abandoned_in_the_menu(phone):
    phone.dial()
    phone.press("2")
    reply = phone.hang_up(duration=14)
    assert reply.status == 200
    call = _call(phone)
    assert call.status == Call.Status.ENDED
    assert call.outcome == Call.Outcome.ABANDONED_IVR
    assert call.duration_s == 14


def test_hanging_up_while_queued_is_abandoned_in_queue(phone):
    phone.dial()
    phone.press("0")
    phone.hang_up()
    assert _call(phone).outcome == Call.Outcome.ABANDONED_QUEUE


def test_known_caller_is_recognised_by_the_registered_number(client, twilio_token, open_hours, alice):
    phone = Phone(client, from_number="+8613800000001")
    reply = phone.dial()
    assert "已识别您使用注册手机号来电" in reply.says()
    call = _call(phone)
    assert call.customer == alice and call.identified_by == "caller_id"
    assert CallEvent.objects.filter(call=call, kind="ringing").exists()


def test_customer_preferring_english_hears_english(client, twilio_token, open_hours, alice):
    alice.preferred_language = "en"
    alice.save()
    reply = Phone(client, from_number=alice.phone).dial()
    assert "thank you for calling" in reply.says()


def test_a_recording_replaces_the_spoken_greeting(phone, settings):
    settings.OKWALLET_VOICE_RECORDINGS = {"greeting": {"zh": "https://cdn.example/greeting-zh.mp3"}}
    reply = phone.dial()
    assert [el.text for el in reply.root.iter("Play")] == ["https://cdn.example/greeting-zh.mp3"]
    assert "欢迎致电" not in reply.says()


def test_unknown_caller_may_key_a_user_id_which_travels_unverified(phone, alice):
    reply = phone.dial()
    assert "请按8输入您的用户ID" in reply.says()
    phone.press("8")
    reply = phone.press(f"{alice.public_id}#")
    assert "已记录" in reply.says() and reply.gather().get("action").startswith(
        "/voice/twilio/gather?node=main_menu"
    )
    call = _call(phone)
    assert call.customer == alice and call.identified_by == "claimed_user_id"
    # Claiming a user ID is no verification: freezing still asks for the ID digits.
    phone.press("2")
    reply = phone.press("1")
    assert "请输入您的用户ID" in reply.says()


def test_known_caller_is_not_offered_to_key_a_user_id(client, twilio_token, open_hours, alice):
    reply = Phone(client, from_number=alice.phone).dial()
    assert "请按8" not in reply.says()
