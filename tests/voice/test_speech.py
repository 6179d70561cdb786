"""Speech input: every menu listens in zh-CN (en-US once the caller chose English), and what the
caller says is mapped to the menu's keys — driven with signed webhooks carrying SpeechResult."""

from __future__ import annotations

import pytest

from okwallet.voice import speech
from okwallet.voice.models import Call, CallbackRequest
from tests.voice.conftest import Phone


def _call(phone) -> Call:
    return Call.objects.get(call_sid=phone.sid)


@pytest.mark.parametrize(
    ("node", "said", "key"),
    [
        ("main_menu", "我想问一下充值的问题。", "1"),
        ("main_menu", "提现一直没到账", "1"),
        ("main_menu", "存款", "1"),
        ("main_menu", "我的密码忘了", "2"),
        ("main_menu", "账户被盗了，帮我冻结", "2"),
        ("main_menu", "安全问题", "2"),
        ("main_menu", "我要投诉", "3"),
        ("main_menu", "我想注销账户", "4"),
        ("main_menu", "销户", "4"),
        ("main_menu", "转人工", "0"),
        ("main_menu", "人工服务", "0"),
        ("main_menu", "找客服", "0"),
        ("main_menu", "I want to withdraw money", "1"),
        ("main_menu", "My password was stolen", "2"),
        ("main_menu", "I have a complaint", "3"),
        ("main_menu", "Please close my account", "4"),
        ("main_menu", "Agent, please.", "0"),
        ("main_menu", "operator", "0"),
        ("main_menu", "let me talk to a person", "0"),
        ("main_menu", "按三", "3"),
        ("main_menu", "two", "2"),
        ("main_menu", "English", "9"),
        ("main_menu", "今天天气不错", None),
        ("main_menu", "agency", None),  # English keywords match whole words only
        ("security_menu", "马上冻结", "1"),
        ("security_menu", "其他密码问题", "2"),
        ("security_menu", "人工", "0"),
        ("closed_menu", "我要留言", "1"),
        ("closed_menu", "请给我回电", "2"),
        ("closed_menu", "call me back", "2"),
        ("closed_menu", "手机丢了", "3"),
        ("freeze_confirm", "确认冻结", "1"),
        ("freeze_confirm", "不要冻结", "*"),
        ("freeze_confirm", "yes", "1"),
        ("freeze_confirm", "no, go back", "*"),
        ("queue_wait", "回电吧", "1"),
        ("deposit_ref", "二零二六 一二零一", "20261201#"),
        ("deposit_ref", "人工", "0"),
        ("freeze_user_id", "人工", None),  # identity digits are keyed, never heard
    ],
)
def test_keywords_map_to_the_menus_keys(node, said, key):
    assert speech.key_for(node, said) == key


def test_the_menu_listens_in_mandarin_then_in_english(phone):
    gather = phone.dial().gather()
    assert gather.get("input") == "dtmf speech" and gather.get("language") == "zh-CN"
    assert "充值" in gather.get("hints") and "人工" in gather.get("hints")
    gather = phone.press("9").gather()
    assert gather.get("language") == "en-US" and "agent" in gather.get("hints")


def test_saying_a_topic_at_the_main_menu_goes_where_its_key_goes(call_as, open_hours):
    deposits = call_as("+8613900000021")
    deposits.dial()
    assert (
        deposits.say("我充值的钱还没到账")
        .gather()
        .get("action")
        .startswith("/voice/twilio/gather?node=deposit_ref")
    )
    assert deposits.say("没有单号").enqueue().text == "deposits"

    complaint = call_as("+8613900000022")
    complaint.dial()
    assert complaint.say("我要投诉").enqueue().text == "complaints"
    assert _call(complaint).topic == Call.Topic.COMPLAINT
    assert "main_menu:said:3" in _call(complaint).ivr_path
    assert _call(complaint).digits[-1]["speech"] == "我要投诉"

    closure = call_as("+8613900000023")
    closure.dial()
    closure.press("9")
    reply = closure.say("I would like to close my account.")
    assert reply.enqueue().text == "account" and reply.say_languages() == {"en-US"}


def test_saying_freeze_reaches_the_freeze_and_the_id_digits_are_keyed_only(phone):
    phone.dial()
    reply = phone.say("我的账号被盗了")
    assert "立即冻结账户，请按1" in reply.says()
    reply = phone.say("冻结")
    assert "请输入您的用户ID" in reply.says()
    assert reply.gather().get("input") == "dtmf" and reply.gather().get("hints") is None


def test_saying_rengong_reaches_a_person_from_a_deeper_menu(phone):
    phone.dial()
    phone.press("2")
    reply = phone.say("转人工")
    assert reply.enqueue().text == "security"
    assert _call(phone).status == Call.Status.QUEUED


def test_unrecognised_speech_is_an_invalid_answer_not_silence(phone):
    phone.dial()
    reply = phone.say("今天天气不错")
    assert "输入有误" in reply.says() and "没有收到" not in reply.says()
    reply = phone.say("嗯嗯")
    assert reply.enqueue().text == "person"  # the second failure routes to a person


def test_after_hours_a_caller_can_ask_for_a_callback_by_voice(client, db, twilio_token, closed_hours):
    night = Phone(client, from_number="+8613900000066")
    night.dial()
    reply = night.say("请给我回电")
    assert "已为您预约回电" in reply.says() and reply.hangs_up()
    assert CallbackRequest.objects.get().phone == "+8613900000066"


def test_saying_a_person_after_hours_leads_to_the_closed_menu(client, db, twilio_token, closed_hours):
    night = Phone(client, from_number="+8613900000067")
    night.dial()
    reply = night.say("人工")
    assert "现在不在人工服务时间" in reply.says() and reply.gather() is not None
