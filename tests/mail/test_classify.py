"""Loop and noise protection with real auto-reply headers; subject ticket tags."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from okwallet.mail.classify import (
    Classification,
    classify,
    should_auto_reply,
    strip_subject_prefixes,
    subject_with_tag,
    ticket_number_from_subject,
)
from okwallet.mail.parsing import parse_message

FIXTURES = Path(__file__).parent / "fixtures"


def classify_fixture(name: str) -> Classification:
    return classify(parse_message((FIXTURES / name).read_bytes()))


@pytest.mark.parametrize(
    "fixture",
    [
        "qq_mail_reply.eml",
        "foxmail_reply.eml",
        "netease_163_reply.eml",
        "outlook_zh_reply.eml",
        "iphone_reply.eml",
        "gmail_en_reply.eml",
        "gb2312_body_gbk_chars.eml",
        "forwarded_rfc822.eml",
    ],
)
def test_mail_from_people_is_normal_and_gets_an_acknowledgement(fixture):
    result = classify_fixture(fixture)
    assert result.kind == "normal", result.reason
    assert should_auto_reply(result)


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("auto_submitted_reply.eml", "auto_reply"),
        ("out_of_office_x_autoreply.eml", "auto_reply"),
        ("mailing_list.eml", "list"),
        ("dsn_bounce.eml", "dsn"),
    ],
)
def test_robots_lists_and_bounces_never_get_an_acknowledgement(fixture, kind):
    result = classify_fixture(fixture)
    assert result.kind == kind
    assert result.reason
    assert not should_auto_reply(result)
    assert not should_auto_reply(parse_message((FIXTURES / fixture).read_bytes()))


def test_dsn_names_the_failed_recipient_only():
    result = classify_fixture("dsn_bounce.eml")
    assert result.failed_recipients == ("no-such-user@qq.com",)


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"Auto-Submitted": "auto-generated"}, "auto_reply"),
        ({"Auto-Submitted": "auto-notified"}, "auto_reply"),
        ({"Auto-Submitted": "no"}, "normal"),
        ({"Auto-Submitted": "No; comment"}, "normal"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"X-Autorespond": "Out of office"}, "auto_reply"),
        ({"X-Auto-Response-Suppress": "All"}, "auto_reply"),
        ({"X-Auto-Response-Suppress": "DR, RN, NRN"}, "normal"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Precedence": "junk"}, "bulk"),
        ({"Precedence": "list"}, "list"),
        ({"List-Id": "<announce.example.org>"}, "list"),
        ({"List-Unsubscribe": "<https://example.org/u>"}, "list"),
        ({"List-Post": "<mailto:l@example.org>"}, "list"),
        ({"From": "MAILER-DAEMON@mx.example.com"}, "bounce"),
        ({"From": "Mail Delivery System <postmaster@example.com>"}, "bounce"),
        ({"Return-Path": "<>", "Subject": "Undeliverable: hello"}, "bounce"),
        ({"Return-Path": "<>", "Subject": "hi"}, "auto_reply"),
        ({"X-Failed-Recipients": "a@example.com"}, "bounce"),
        ({"Subject": "自动回复: 您好"}, "auto_reply"),
        ({"Subject": "Automatic reply: hello"}, "auto_reply"),
        ({"Subject": "自动回复功能不能用"}, "normal"),
        ({"From": "alice@example.com", "Subject": "hello"}, "normal"),
    ],
)
def test_header_rules(headers, kind):
    result = classify(headers)
    assert result.kind == kind, result.reason
    assert should_auto_reply(headers) is (kind == "normal")


def test_loop_through_our_own_address_is_caught():
    headers = {"From": "OK钱包 <support@okwallet.cn>", "Subject": "hi"}
    assert classify(headers).kind == "normal"
    assert classify(headers, our_addresses=["support@okwallet.cn"]).kind == "auto_reply"
    assert (
        classify({"X-Loop": "support@okwallet.cn"}, our_addresses=["support@okwallet.cn"]).kind
        == "auto_reply"
    )


def test_classify_accepts_a_stdlib_message_and_raw_bytes():
    raw = (FIXTURES / "auto_submitted_reply.eml").read_bytes()
    assert classify(email.message_from_bytes(raw, policy=email.policy.default)).kind == "auto_reply"
    assert classify(raw).kind == "auto_reply"


def test_x_failed_recipients_are_extracted():
    result = classify({"X-Failed-Recipients": "a@example.com, B@Example.com", "From": "x@y.z"})
    assert result.failed_recipients == ("a@example.com", "b@example.com")


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("[OK261126000123] 充值未到账", "OK261126000123"),
        ("Re: [#OK261126000123] hello", "OK261126000123"),
        ("回复：【OK261126000123】充值", "OK261126000123"),
        ("RE: [ok261126000123]", "OK261126000123"),
        ("[OK261326000123] bad month", None),
        ("OK261126000123 without brackets", None),
        ("[OK26112600012] too short", None),
        ("", None),
        (None, None),
    ],
)
def test_ticket_number_from_subject(subject, number):
    assert ticket_number_from_subject(subject) == number


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("充值未到账", "[OK261126000123] 充值未到账"),
        ("Re: 回复: 答复：Fwd: 转发: 充值未到账", "Re: [OK261126000123] 充值未到账"),
        ("RE: Re[2]: [OK261126000123] 充值未到账", "Re: [OK261126000123] 充值未到账"),
        ("回复：[OK261126000123] 回复：[OK261126000123] 充值未到账", "Re: [OK261126000123] 充值未到账"),
        ("[#OK261126000123] hello", "[OK261126000123] hello"),
        ("Re: [OK261126000999] merged", "Re: [OK261126000123] merged"),
        ("Hello\r\nBcc: x@example.com", "[OK261126000123] Hello Bcc: x@example.com"),
        ("", "[OK261126000123]"),
    ],
)
def test_subject_with_tag_adds_the_tag_once(subject, expected):
    tagged = subject_with_tag(subject, "OK261126000123")
    assert tagged == expected
    assert ticket_number_from_subject(tagged) == "OK261126000123"
    assert subject_with_tag(tagged, "OK261126000123") == tagged  # idempotent


def test_subject_with_tag_for_an_agent_reply():
    assert subject_with_tag("充值未到账", "OK261126000123", reply=True) == "Re: [OK261126000123] 充值未到账"


def test_strip_subject_prefixes():
    assert strip_subject_prefixes("Re: RE: 回复：答复: Fw: 轉寄: AW: hello") == "hello"
    assert strip_subject_prefixes("Recharge failed") == "Recharge failed"
