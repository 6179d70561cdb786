"""Property tests: no input makes parsing, classification or quote stripping raise."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okwallet.mail.classify import classify, subject_with_tag, ticket_number_from_subject
from okwallet.mail.html import html_to_text, sanitize_html
from okwallet.mail.parsing import ParsedMessage, parse_message
from okwallet.mail.quotes import split_quotes, strip_quotes_and_signature

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml")) if p.stat().st_size < 20_000]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that tend to break MIME parsers when spliced in.
NASTY = [
    b"\r\n",
    b"\n\n",
    b"\r\n\r\n",
    b"--",
    b'boundary="',
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"charset=gb2312",
    b"charset=big5",
    b"charset=utf-7",
    b"charset=rot13",
    b"charset=zlib",
    b"=?gb2312?B?",
    b"=?utf-8?Q?=0D=0A",
    b"?=",
    b"=\r\n",
    b"\x00",
    b"\xff\xfe",
    b"\xe4\xb8",
    b"Message-ID: <\r\n",
    b"From: <>\r\n",
    b"Subject: \r\n\t=?x?B?\r\n",
    b"<script>alert(1)</script>",
    b"filename*=utf-8''..%2F..%2Fetc%2Fpasswd",
]


HEADER_NAMES = [
    "From",
    "Subject",
    "Return-Path",
    "Auto-Submitted",
    "X-Autoreply",
    "X-Auto-Response-Suppress",
    "Precedence",
    "List-Id",
    "Content-Type",
    "X-Failed-Recipients",
    "X-Loop",
]


def _assert_sane(parsed: ParsedMessage, raw: bytes) -> None:
    assert isinstance(parsed, ParsedMessage)
    assert parsed.raw_size == len(raw)
    assert "\n" not in parsed.subject and "\r" not in parsed.subject
    if parsed.parse_error:
        assert "parse_error" in parsed.flags
    # A parse_error is for input the stdlib cannot represent, not for our bugs.
    assert parsed.parse_error is None, parsed.parse_error
    assert "<script" not in parsed.html_sanitized.lower()
    classify(parsed)


@FUZZ
@given(st.binary(max_size=4096))
def test_parse_message_never_raises_on_arbitrary_bytes(raw):
    _assert_sane(parse_message(raw), raw)


@st.composite
def mutated_messages(draw):
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "duplicate_line"]))
        pos = draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            raw[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del raw[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del raw[pos:]
        elif op == "splice":
            raw[pos:pos] = draw(st.sampled_from(NASTY))
        elif op == "duplicate_line":
            start = raw.rfind(b"\n", 0, pos) + 1
            end = raw.find(b"\n", pos)
            end = len(raw) if end < 0 else end + 1
            raw[start:start] = raw[start:end] * draw(st.integers(1, 3))
    return bytes(raw)


@FUZZ
@given(mutated_messages())
def test_parse_message_never_raises_on_mutated_real_messages(raw):
    _assert_sane(parse_message(raw, max_attachment_bytes=1024, max_total_bytes=4096), raw)


@FUZZ
@given(st.text(max_size=2000))
def test_strip_quotes_never_raises_and_never_returns_empty_for_text(text):
    result = strip_quotes_and_signature(text)
    assert isinstance(result, str)
    if text.strip():
        assert result.strip()
    split = split_quotes(text)
    assert split.original == text


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "好的",
                "> quoted",
                "在 2026年11月26日 10:00，客服 写道：",
                "On Thu, Nov 26, 2026 at 10:00 AM Support <s@x.cn>",
                "wrote:",
                "发件人: a",
                "发送时间: b",
                "主题: c",
                "From: a",
                "Sent: b",
                "Subject: c",
                "-- ",
                "发自我的iPhone",
                "------------------ 原始邮件 ------------------",
                "",
                "________________________________",
                "---------- Forwarded message ----------",
            ]
        ),
        max_size=30,
    )
)
def test_strip_quotes_on_marker_soup(lines):
    text = "\n".join(lines)
    result = strip_quotes_and_signature(text)
    if text.strip():
        assert result.strip()


@FUZZ
@given(st.text(max_size=300), st.sampled_from(["OK261126000123", "OK991231999999"]))
def test_subject_tagging_is_total_and_idempotent(subject, number):
    tagged = subject_with_tag(subject, number)
    assert ticket_number_from_subject(tagged) == number
    assert subject_with_tag(tagged, number) == tagged
    assert "\n" not in tagged and "\r" not in tagged


@FUZZ
@given(st.text(max_size=2000))
def test_html_helpers_never_raise(html):
    assert "<script" not in sanitize_html(html).lower()
    html_to_text(html)


@FUZZ
@given(
    st.binary(max_size=512),
    st.one_of(
        st.none(),
        st.sampled_from(
            ["gb2312", "GBK", "big5", "utf-7", "utf-16", "rot13", "zlib", "hex", "idna", "x-unknown", ""]
        ),
        st.text(max_size=20),
    ),
)
def test_decode_bytes_is_total(data, charset):
    from okwallet.mail.charsets import decode_bytes

    decoded = decode_bytes(data, charset)
    assert isinstance(decoded.text, str)
    assert decoded.replacements == decoded.text.count("\ufffd")


@FUZZ
@given(st.dictionaries(st.sampled_from(HEADER_NAMES), st.text(max_size=80), max_size=8))
def test_classify_is_total_on_any_headers(headers):
    result = classify(headers)
    assert result.kind in {"normal", "auto_reply", "bulk", "list", "bounce", "dsn"} and result.reason
