"""Hostile and broken mail through the whole pipeline: stored, flagged where needed, never a crash."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

from okwallet.mail.ingest import mail_ingest_raw
from okwallet.mail.models import MailAttachment, RawMessage

pytestmark = pytest.mark.django_db


def _multipart(parts: list[bytes], boundary: str = "b0", subject: str = "附件") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return (
        b"From: eve@example.com\r\nTo: support@okwallet.example\r\nSubject: "
        + subject.encode()
        + b"\r\nMessage-ID: <"
        + boundary.encode()
        + b'@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="'
        + boundary.encode()
        + b'"\r\n\r\n'
        + body
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )


def test_zip_bomb_is_stored_as_a_file_and_never_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * (50 * 1024 * 1024))
    data = buffer.getvalue()
    assert len(data) < 200 * 1024  # 50 MB of zeros in a small file
    part = (
        b'Content-Type: application/zip; name="statement.zip"\r\n'
        b'Content-Disposition: attachment; filename="statement.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(data)
    )
    text = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "请看附件".encode()
    row = mail_ingest_raw(raw=_multipart([text, part], boundary="zipbomb"), source="smtp")
    assert row.status == "processed" and row.ticket_number
    att = MailAttachment.objects.get(message=row, filename="statement.zip")
    assert att.size == len(data) and bytes(att.content) == data  # kept as sent, not inflated
    # The helpdesk does not take zip files: it stays with the email, and the note says so.
    assert any("statement.zip" in n for n in row.notes)


def test_deeply_nested_mime_is_cut_and_flagged():
    inner = b"Content-Type: text/plain\r\n\r\ndeep"
    for depth in range(60):
        b = f"n{depth}".encode()
        inner = (
            b'Content-Type: multipart/mixed; boundary="'
            + b
            + b'"\r\n\r\n--'
            + b
            + b"\r\n"
            + inner
            + b"\r\n--"
            + b
            + b"--"
        )
    raw = (
        b"From: eve@example.com\r\nSubject: nest\r\nMessage-ID: <nest@example.com>\r\nMIME-Version: 1.0\r\n"
        + inner
    )
    row = mail_ingest_raw(raw=raw, source="smtp")
    assert row.status in ("processed", "flagged")
    assert "mime_too_deep" in row.flags
    assert bytes(row.raw) == raw


def test_thousands_of_parts_are_cut_and_flagged():
    parts = [b"Content-Type: text/plain\r\n\r\nx" for _ in range(1500)]
    row = mail_ingest_raw(raw=_multipart(parts, boundary="many"), source="smtp")
    assert "mime_too_many_parts" in row.flags
    assert row.status == "processed"


def test_binary_garbage_is_kept_and_explained():
    raw = bytes(range(256)) * 64
    row = mail_ingest_raw(raw=raw, source="smtp")
    assert row is not None and bytes(row.raw) == raw
    assert row.status in ("flagged", "ignored", "processed")
    assert row.ticket_number or row.status_reason
    assert RawMessage.objects.filter(status="received").count() == 0


def test_missing_and_duplicated_headers_still_file_a_ticket():
    raw = (
        b"From: a@example.com\r\nFrom: b@example.com\r\nSubject: one\r\nSubject: two\r\n"
        b"Content-Type: text/plain; charset=gbk\r\n\r\n" + "充值问题".encode("gbk")
    )
    row = mail_ingest_raw(raw=raw, source="smtp")
    assert row.status == "processed"
    assert row.from_addr == "a@example.com" and row.subject == "one"
    assert "duplicate_header" in row.flags and "missing_message_id" in row.flags
    assert "充值问题" in row.text


def test_wrong_declared_charset_is_decoded_sensibly():
    raw = (
        b"From: a@example.com\r\nSubject: =?gb2312?B?s+TWtQ==?=\r\nMessage-ID: <cs@example.com>\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "提现失败了".encode()
    )
    row = mail_ingest_raw(raw=raw, source="smtp")
    assert "提现失败了" in row.text
    assert row.subject == "充值"
