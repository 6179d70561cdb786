"""The acknowledgement's promise comes from the hours module's working-day calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from okwallet.mail.ack import add_working_days, format_promise, language_for, render_ack

pytestmark = pytest.mark.django_db


def test_promise_uses_the_hours_module_and_skips_the_weekend():
    friday = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai
    deadline = add_working_days(friday, 2)
    try:
        from okwallet.hours.businesstime import add_working_days as hours_add

        assert deadline == hours_add(friday, 2, schedule="email") or deadline == hours_add(friday, 2)
    except ImportError:
        pass
    local = deadline.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert local.weekday() < 5 and local.date().isoformat() >= "2026-12-08"


def test_chinese_acknowledgement_states_number_and_promise():
    received = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    _subject, body = render_ack(
        number="OK261201000123", name="王芳", lang="zh-hans", received_at=received, days=2
    )
    promise = format_promise(add_working_days(received, 2), "zh-hans")
    assert "OK261201000123" in body
    assert f"我们将在 2 个工作日内（{promise} 前）回复" in body
    assert "验证码" in body  # the anti-fraud reminder


def test_english_acknowledgement():
    received = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    _subject, body = render_ack(number="OK261201000123", name="Alex", lang="en", received_at=received, days=2)
    assert "within 2 working days" in body and "Dear Alex" in body


@pytest.mark.parametrize(
    "preferred,subject,text,expected",
    [
        ("en", "充值", "", "en"),
        ("zh-hans", "Deposit", "missing", "zh-hans"),
        ("", "Deposit missing", "I topped up", "en"),
        ("", "Re: 提现", "", "zh-hans"),
    ],
)
def test_language_follows_the_customer_then_what_they_wrote(preferred, subject, text, expected):
    customer = type("C", (), {"preferred_language": preferred})() if preferred else None
    assert language_for(customer=customer, subject=subject, text=text) == expected
