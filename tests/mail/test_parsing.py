"""parse_message on our own .eml fixtures (tests/mail/fixtures/)."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okwallet.mail.charsets import decode_bytes
from okwallet.mail.parsing import (
    ParsedMessage,
    decode_header_value,
    normalise_message_id,
    parse_message,
    parse_references,
)

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str, **kwargs) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes(), **kwargs)


def test_gb2312_declared_body_with_gbk_only_characters_decodes_cleanly():
    msg = load("gb2312_body_gbk_chars.eml")
    assert "朱镕基路支行充值 500 元" in msg.text
    # The subject was split mid-character across two encoded words.
    assert msg.subject == "充值未到账，朱镕基路支行"
    assert msg.from_name == "王芳"
    assert msg.from_addr == "wang.fang@163.com"
    assert msg.replacement_chars == 0
    assert "charset_fallback" not in msg.flags


def test_gbk_quoted_printable_body_and_gbk_headers():
    msg = load("gbk_qp.eml")
    assert msg.subject == "提现一直处理中"
    assert msg.from_name == "李雷"
    assert "提现金额：1,200.00 元" in msg.text


def test_gb18030_four_byte_sequences():
    msg = load("gb18030_4byte.eml")
    assert msg.subject == "转账失败😞"
    assert "𠀀先生" in msg.text and "😞" in msg.text


def test_big5_declared_body_with_hkscs_character():
    msg = load("big5_hkscs.eml")
    assert msg.subject == "付款失敗"
    assert msg.from_name == "陳大文"
    assert "商戶在𨋢口旁邊" in msg.text
    assert msg.replacement_chars == 0


def test_body_declared_utf8_but_sent_as_gbk_is_recovered_and_flagged():
    msg = load("wrong_charset_utf8_is_gbk.eml")
    assert msg.text == "账户被冻结了，怎么解冻？"
    assert msg.subject == "账户冻结"
    assert "charset_fallback" in msg.flags


def test_undeclared_8bit_utf8_body_and_raw_utf8_headers():
    msg = load("undeclared_8bit_utf8.eml")
    assert msg.subject == "银行卡绑定失败"
    assert msg.from_name == "刘洋"
    assert msg.text == "绑定招商银行卡时提示“信息不一致”。"


def test_reply_headers_are_normalised_for_threading():
    msg = load("qq_mail_reply.eml")
    assert msg.message_id == "tencent_1A2B3C4D5E6F7A8B9C0D@qq.com"
    assert msg.in_reply_to == "ticket.OK261126000123.1@okwallet.cn"
    assert msg.references == ["ticket.OK261126000123.0@okwallet.cn", "ticket.OK261126000123.1@okwallet.cn"]
    assert msg.date == datetime(2026, 11, 26, 2, 31, 5, tzinfo=UTC)
    assert msg.to == ["support@okwallet.cn"]
    assert msg.idempotency_key == "mid:tencent_1A2B3C4D5E6F7A8B9C0D@qq.com"


def test_html_with_scripts_is_sanitised_and_converted_to_text():
    msg = load("html_script.eml")
    html = msg.html_sanitized.lower()
    for bad in (
        "<script",
        "onload",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<style",
        "<form",
        "<svg",
    ):
        assert bad not in html, bad
    assert "tracker.example.com" not in html  # remote images dropped
    assert 'src="cid:logo@x"' in html
    assert 'href="https://okwallet.cn/help"' in html
    assert "alert" not in msg.text and "领取红包" in msg.text
    assert "unsafe_html_removed" in msg.flags


def test_header_injection_in_subject_is_flattened_and_flagged():
    msg = load("header_injection_subject.eml")
    assert "\r" not in msg.subject and "\n" not in msg.subject
    assert msg.subject.startswith("Hello Bcc: victim@example.com")
    assert "header_injection" in msg.flags


def test_attachment_over_the_limit_is_recorded_but_not_stored():
    msg = load("attachment_over_limit.eml", max_attachment_bytes=100 * 1024)
    big, small = msg.attachments
    assert big.filename == "截图.png" and big.size == 204_800
    assert big.content is None and big.skipped_reason
    assert small.filename == "receipt.pdf"  # the ../../etc/ path was dropped
    assert small.content.startswith(b"%PDF") and small.sha256 == hashlib.sha256(small.content).hexdigest()
    assert "attachment_too_large" in msg.flags
    assert msg.text == "截图和回单见附件。"


def test_attachments_within_limits_are_stored_in_full():
    msg = load("attachment_over_limit.eml")
    assert [a.size for a in msg.attachments] == [204_800, 24]
    assert all(a.content is not None for a in msg.attachments)


def test_total_attachment_budget_applies_after_per_file_limit():
    msg = load("attachment_over_limit.eml", max_total_bytes=100)
    assert msg.attachments[0].skipped_reason and msg.attachments[1].content is not None
    assert "attachments_total_too_large" in msg.flags


def test_forwarded_message_text_is_included_and_the_original_attached():
    msg = load("forwarded_rfc822.eml")
    assert "银行已经扣款" in msg.text
    assert "Subject: 扣款通知" in msg.text
    assert "支出人民币500.00元" in msg.text
    (eml,) = msg.attachments
    assert eml.content_type == "message/rfc822" and eml.filename == "bank-notice.eml"
    assert parse_message(eml.content).message_id == "bank.notice.1@cmbchina.example"


def test_winmail_dat_is_ignored_with_a_note():
    msg = load("winmail_dat.eml")
    assert msg.text == "Please see my statement attached."
    assert msg.attachments == []
    assert "tnef_ignored" in msg.flags and any("TNEF" in n for n in msg.notes)


def test_dsn_delivery_status_blocks_are_read():
    msg = load("dsn_bounce.eml")
    assert msg.content_type == "multipart/report" and msg.report_type == "delivery-status"
    failed, delayed = msg.delivery_status
    assert (failed.final_recipient, failed.original_recipient) == (
        "no-such-user@qq.com",
        "no-such-user@qq.com",
    )
    assert failed.action == "failed" and failed.status == "5.0.0"
    assert delayed.action == "delayed"


def test_malformed_message_is_parsed_as_far_as_possible_and_flagged():
    msg = load("malformed_mime.eml")
    assert msg.parse_error is None
    assert msg.subject == "first subject" and msg.from_addr == "broken@example.com"
    assert msg.message_id is None and msg.date is None
    for flag in ("duplicate_header", "missing_message_id", "bad_date", "charset_fallback"):
        assert flag in msg.flags
    assert (
        msg.idempotency_key
        == "sha256:" + hashlib.sha256((FIXTURES / "malformed_mime.eml").read_bytes()).hexdigest()
    )


def test_empty_and_garbage_input_never_raises():
    for raw in (
        b"",
        b"\x00\xff" * 100,
        b"\r\n\r\n",
        b"From:\r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\n--",
    ):
        msg = parse_message(raw)
        assert msg.raw_sha256 == hashlib.sha256(raw).hexdigest()


def test_25_mb_attachment_is_skipped_not_stored():
    payload = base64.encodebytes(b"\x00" * (25 * 1024 * 1024)).replace(b"\n", b"\r\n")
    raw = (
        b"From: big@example.com\r\nSubject: large\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--B\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"--B--\r\n"
    )
    msg = parse_message(raw)
    (att,) = msg.attachments
    assert att.size == 25 * 1024 * 1024 and att.content is None
    assert msg.text.strip() == "see attachment"


def test_zip_bomb_is_stored_as_bytes_and_never_decompressed():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\x00" * (50 * 1024 * 1024))
    bomb = buf.getvalue()
    assert len(bomb) < 200_000
    message = EmailMessage()
    message["From"] = "bomb@example.com"
    message.set_content("hi")
    message.add_attachment(bomb, maintype="application", subtype="zip", filename="bomb.zip")
    msg = parse_message(message.as_bytes())
    (att,) = msg.attachments
    assert att.content == bomb and att.size == len(bomb)


def test_oversized_message_keeps_headers_only():
    raw = b"From: a@example.com\r\nSubject: hi\r\nMessage-ID: <x@y>\r\n\r\n" + b"a" * 2000
    msg = parse_message(raw, max_raw_bytes=1000)
    assert msg.message_id == "x@y" and msg.subject == "hi"
    assert "message_too_large" in msg.flags and msg.text == ""


def test_deeply_nested_multipart_is_cut_off_not_crashing():
    depth = 200
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    tail = "".join(f"\r\n--b{i}--\r\n" for i in reversed(range(depth)))
    raw = ("From: deep@example.com\r\n" + head + "Content-Type: text/plain\r\n\r\ndeep" + tail).encode()
    msg = parse_message(raw)
    assert msg.from_addr == "deep@example.com"
    assert "mime_too_deep" in msg.flags or msg.parse_error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", "abc@example.com"),
        ("  <abc@example.com> (comment)", "abc@example.com"),
        ("abc@example.com", "abc@example.com"),
        ("<abc@example.com>\r\n <second@example.com>", "abc@example.com"),
        ("", None),
        ("<>", None),
    ],
)
def test_message_id_normalisation(value, expected):
    assert normalise_message_id(value) == expected


def test_references_are_deduplicated_in_order():
    assert parse_references("<a@x> <b@x>\r\n <a@x> junk <c@x>") == ["a@x", "b@x", "c@x"]


def test_rfc2047_words_of_one_charset_are_joined_before_decoding():
    data = "充值".encode("gb2312")
    first, second = data[:3], data[3:]
    import base64

    value = (
        f"=?gb2312?B?{base64.b64encode(first).decode()}?= =?gb2312?B?{base64.b64encode(second).decode()}?="
    )
    assert decode_header_value(value) == "充值"


@pytest.mark.parametrize(
    ("text", "charset"),
    [("提现", "gb2312"), ("镕", "gb2312"), ("臺灣", "big5"), ("𨋢", "big5"), ("€", "iso-8859-1")],
)
def test_declared_charsets_decode_through_their_supersets(text, charset):
    codec = {"gb2312": "gbk", "big5": "big5hkscs", "iso-8859-1": "cp1252"}[charset]
    decoded = decode_bytes(text.encode(codec), charset)
    assert decoded.text == text and not decoded.fallback


def test_undecodable_bytes_fall_back_to_latin1_with_a_flag():
    decoded = decode_bytes(bytes(range(128, 256)) * 3, "utf-8")
    assert decoded.fallback and decoded.charset in ("latin-1", "gb18030", "big5hkscs")


def test_forwarded_message_with_its_own_problems_passes_its_flags_up():
    inner = (
        b"From: x@example.com\r\nSubject: inner\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "账户".encode("gbk") + b"\r\n"
    )
    raw = (
        b"From: eve@example.com\r\nMessage-ID: <f2@example.com>\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
        b"--z\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--z\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--z--\r\n"
    )
    msg = parse_message(raw)
    assert msg.parse_error is None
    assert "账户" in msg.text and "charset_fallback" in msg.flags


def test_bounce_names_which_of_our_messages_bounced_without_quoting_it():
    msg = load("dsn_bounce.eml")
    assert msg.report_message_id == "ticket.OK261126000131.1@okwallet.cn"
    assert "Forwarded message" not in msg.text
    assert {a.filename for a in msg.attachments} == {"delivery-status.txt", "returned-headers.txt"}


def test_long_references_keep_the_newest_ids():
    refs = " ".join(f"<id{n}.{'x' * 40}@example.com>" for n in range(3000))
    raw = (
        f"From: a@example.com\r\nReferences: {refs}\r\nIn-Reply-To: <id2999.{'x' * 40}@example.com>\r\n\r\nhi"
    )
    msg = parse_message(raw.encode())
    assert msg.references[-1] == f"id2999.{'x' * 40}@example.com"
    assert msg.in_reply_to == msg.references[-1]


_ADDRESS_PIECES = st.sampled_from(
    ["a", "Z9", "客户", "=?utf-8?b?5a6i?=", "=?gbk?q?=C4=E3?=", " ", "  ", "\t", ".", "..", "@", "<", ">",
     '"', "(", ")", ",", ";", ":", "\\", "[", "]", "-", "_", "+", "x.y", "example.com", "\u3000", "\xa0"]
)  # fmt: skip


_MAILBOX = st.builds(
    lambda name, gap, local, domain, bare: f"{local}@{domain}" if bare else f"{name}{gap}<{local}@{domain}>",
    st.text(st.sampled_from("A客户1=?*-'!#é. \t\u3000\xa0\"(,"), max_size=6),
    st.sampled_from(["", " ", "  "]),
    st.text(st.sampled_from("ux.+-_'!#$=?*{é~"), min_size=1, max_size=6),
    st.text(st.sampled_from("example.com-x_1é"), min_size=1, max_size=8),
    st.booleans(),
)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.lists(st.lists(_ADDRESS_PIECES, max_size=12).map("".join), min_size=1, max_size=3),
        st.lists(_MAILBOX, min_size=1, max_size=2),
    )
)
def test_the_plain_address_shortcut_agrees_with_getaddresses(values):
    import email.utils

    from okwallet.mail.parsing import clean_header_text, simple_addresses

    cleaned = [clean_header_text(v) for v in values]
    fast = simple_addresses(cleaned)
    if fast is not None:
        assert fast == email.utils.getaddresses(cleaned)


@settings(max_examples=2000, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_clean_header_text_shortcut_agrees_with_the_regexes(text):
    from okwallet.mail.parsing import _CONTROL, _WS, clean_header_text

    assert clean_header_text(text) == _WS.sub(" ", _CONTROL.sub(" ", text)).strip()


def test_common_addresses_take_the_shortcut():
    from okwallet.mail.parsing import simple_addresses

    assert simple_addresses(["客户1 <user1@example.com>", "a.b@c.example"]) == [
        ("客户1", "user1@example.com"),
        ("", "a.b@c.example"),
    ]
    assert simple_addresses(['"Doe, J" <j@x.example>']) is None


_MIME_PIECES = st.sampled_from(
    ["text/plain", "TEXT/HTML", "multipart/report", "image/png", "text", "/", ";", " ", "\t", "=", '"',
     "charset", "CharSet", "name", "filename", "report-type", "delivery-status", "utf-8", "GB2312",
     "a.png", "截图.png", "=?utf-8?b?5oiq5Zu+?=", "*", "*0", "''", "%E4", "\\", "(", ")", "<", ">",
     "attachment", "inline", "x;y", "base64", "<id@x>", "; charset=", '; name="', '"; ', "FILENAME"]
)  # fmt: skip
_MIME_VALUE = st.lists(_MIME_PIECES, max_size=10).map("".join)


@settings(max_examples=3000, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["content-type", "content-disposition", "content-transfer-encoding", "content-id"]),
        _MIME_VALUE,
    ),
    st.sampled_from(["text/plain", "message/rfc822"]),
)
def test_the_plain_mime_header_reader_agrees_with_the_compat32_shim(headers, default_type):
    from okwallet.mail.parsing import _info_shim, _info_simple

    fast = _info_simple(headers, default_type)
    if fast is not None:
        assert fast == _info_shim(headers, default_type)


def test_usual_mime_headers_are_read_without_the_shim():
    from okwallet.mail.parsing import _info_simple

    info = _info_simple(
        {
            "content-type": 'image/png; name="screenshot.png"',
            "content-disposition": 'attachment; filename="screenshot.png"',
            "content-transfer-encoding": "base64",
        },
        "text/plain",
    )
    assert info is not None
    assert (info.ctype, info.disposition, info.filename, info.cte) == (
        "image/png",
        "attachment",
        "screenshot.png",
        "base64",
    )
    assert _info_simple({"content-type": "text/plain; name*=utf-8''%E6%88%AA"}, "text/plain") is None
