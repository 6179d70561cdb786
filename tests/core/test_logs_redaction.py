"""Personal data never reaches the logs; every line is JSON with the request id."""

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okwallet.core.logs import JsonFormatter, RedactingFilter, RequestIdFilter, redact, request_id_var


@pytest.mark.parametrize(
    "text, secret",
    [
        ("customer +86 138 0013 8000 called", "0013"),
        ("customer 13800138000 called", "13800138000"),
        ("手机13912345678注册", "13912345678"),
        ("from alice.w+tag@example.com", "alice.w"),
        ("ID 110101199003074258 checked", "110101199003074258"),
        ("ID 11010519491231002X checked", "11010519491231002X"),
        ("card 6222 0212 3456 7890 123 bound", "7890"),
        ("POST password=hunter2&identifier=x", "hunter2"),
        ("{'password': 'abc#1', 'token': \"zzz-1\"}", "abc#1"),
        ('{"new_password1": "P@ss-2026", "otp": "123456"}', "P@ss-2026"),
        ("您的验证码是 482913，5分钟有效", "482913"),
        ("验证码482913", "482913"),
        ("sms code 654321 sent", "654321"),
        ("Authorization: Bearer abcdef123456xyz", "abcdef123456xyz"),
        ("api_key=AKIA1234567 sent", "AKIA1234567"),
        ("密码：Abc#123 登录", "Abc#123"),
        ("callback sign=9f8e7d6c5b4a", "9f8e7d6c5b4a"),
    ],
)
def test_personal_data_and_secrets_are_redacted(text, secret):
    assert secret not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "ticket OK261201000123 created",
        "error code=invalid_input on deposit",
        "amount_fen=12345 status=succeeded",
        "reference P2026120112345678 paid",
        "GET /api/v1/contact 200 1.4ms",
        # Huey task ids and request ids whose digit runs look like a phone or a card number
        "task 6f1c2a3e-1380-4138-9001-a13800138000 finished",
        "request_id 1af64650e13800138000c3de252d5129",
        "executing okwallet.mail.tasks.send: 0b5f4e6a-2f6d-4c1e-9a7b-622202123456",
    ],
)
def test_operational_facts_stay_readable(text):
    assert redact(text) == text


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text(alphabet="abc 的，。:", max_size=10))
def test_any_mainland_mobile_in_any_sentence_is_redacted(phone, filler):
    assert phone not in redact(f"{filler}{phone}{filler}")


@given(st.emails())
def test_any_email_address_is_redacted(email):
    assert email not in redact(f"reply to {email} today")


def _record(msg, *args, **extra):
    record = logging.LogRecord("okwallet.test", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_filter_redacts_arguments_and_extras_before_any_handler_formats_them():
    record = _record(
        "login %s from %s",
        {"identifier": "13800138000", "password": "x1"},
        "bob@example.com",
        phone="13900139000",
        password="p",
    )
    RedactingFilter().filter(record)
    text = record.getMessage()
    assert "13800138000" not in text and "x1" not in text and "bob@example.com" not in text
    assert record.phone == "[phone]" and record.password == "[redacted]"


def test_json_lines_carry_the_request_id_and_redacted_tracebacks():
    token = request_id_var.set("req-42")
    try:
        try:
            raise ValueError("bad card 6222021234567890123 for 13800138000")
        except ValueError:
            import sys

            record = logging.LogRecord(
                "okwallet.test",
                logging.ERROR,
                __file__,
                1,
                "failed for %s",
                ("alice@example.com",),
                sys.exc_info(),
            )
        RequestIdFilter().filter(record)
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert (
        entry["request_id"] == "req-42" and entry["level"] == "ERROR" and entry["logger"] == "okwallet.test"
    )
    assert entry["message"] == "failed for [email]"
    assert (
        "13800138000" not in entry["exc"]
        and "6222021234567890123" not in entry["exc"]
        and "ValueError" in entry["exc"]
    )


def test_configured_root_handler_writes_redacted_json(capfd):
    """The LOGGING setting itself: the console handler has the filters and the JSON formatter."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if isinstance(h.formatter, JsonFormatter))
    record = _record("sent code 123456 to %s", "13800138000")
    for f in handler.filters:
        f.filter(record)
    entry = json.loads(handler.format(record))
    assert entry["message"] == "sent code [redacted] to [phone]"
