"""The aiosmtpd receiver on a free port, fed by smtplib and by swaks (real SMTP/LMTP sessions)."""

from __future__ import annotations

import shutil
import smtplib
import socket
import subprocess

import pytest

from okwallet.mail.models import RawMessage
from okwallet.mail.receiver import ReceiverController
from tests.mail.dovecot import free_port
from tests.mail.helpers import fixture, message

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp_receiver():
    controller = ReceiverController(host="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def lmtp_receiver():
    controller = ReceiverController(host="127.0.0.1", port=free_port(), lmtp=True)
    controller.start()
    yield controller
    controller.stop()


def test_smtplib_delivery_is_stored_raw_and_filed(smtp_receiver):
    raw = message(sender="carol@example.com", message_id="smtp-1@example.com")
    with smtplib.SMTP(smtp_receiver.hostname, smtp_receiver.port, timeout=30) as client:
        refused = client.sendmail("carol@example.com", ["support@okwallet.example"], raw)
    assert refused == {}
    row = RawMessage.objects.get(message_id="smtp-1@example.com")
    assert bytes(row.raw).replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert row.source == "smtp"
    assert row.envelope_from == "carol@example.com"
    assert row.envelope_to == "support@okwallet.example"
    assert row.status == "processed" and row.ticket_number


def test_smtp_redelivery_is_accepted_and_stored_once(smtp_receiver):
    raw = message(message_id="smtp-dup@example.com")
    for _ in range(3):
        with smtplib.SMTP(smtp_receiver.hostname, smtp_receiver.port, timeout=30) as client:
            client.sendmail("carol@example.com", ["support@okwallet.example"], raw)
    assert RawMessage.objects.filter(message_id="smtp-dup@example.com").count() == 1


def test_lmtp_answers_once_per_recipient(lmtp_receiver):
    # smtplib.LMTP reads one DATA reply only, so speak LMTP (RFC 2033) by hand.
    raw = message(message_id="lmtp-1@example.com")
    with socket.create_connection((lmtp_receiver.hostname, lmtp_receiver.port), timeout=30) as sock:
        stream = sock.makefile("rwb")

        def reply() -> list[bytes]:
            lines = []
            while True:
                line = stream.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    return lines

        def send(line: bytes) -> list[bytes]:
            stream.write(line + b"\r\n")
            stream.flush()
            return reply()

        assert reply()[0].startswith(b"220")
        assert send(b"LHLO client.example")[-1].startswith(b"250")
        assert send(b"MAIL FROM:<carol@example.com>")[0].startswith(b"250")
        assert send(b"RCPT TO:<support@okwallet.example>")[0].startswith(b"250")
        assert send(b"RCPT TO:<help@okwallet.example>")[0].startswith(b"250")
        assert send(b"DATA")[0].startswith(b"354")
        stream.write(raw.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n")
        stream.flush()
        assert reply()[0].startswith(b"250 2.0.0")
        assert reply()[0].startswith(b"250 2.0.0")  # one status per recipient
        assert send(b"QUIT")[0].startswith(b"221")
    row = RawMessage.objects.get(message_id="lmtp-1@example.com")
    assert row.source == "lmtp"
    assert row.envelope_to == "support@okwallet.example,help@okwallet.example"


def test_recipients_outside_our_domains_are_refused(smtp_receiver, settings):
    settings.OKWALLET_MAIL_ACCEPT_DOMAINS = ("okwallet.example",)
    with smtplib.SMTP(smtp_receiver.hostname, smtp_receiver.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("carol@example.com", ["someone@elsewhere.example"], message())
    assert RawMessage.objects.count() == 0


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed (apt-get install swaks)")
def test_swaks_delivery_of_a_chinese_client_reply(smtp_receiver):
    raw_path = "tests/mail/fixtures/netease_163_reply.eml"
    out = subprocess.run(
        [
            "swaks",
            "--server",
            f"{smtp_receiver.hostname}:{smtp_receiver.port}",
            "--from",
            "wang.fang@163.com",
            "--to",
            "support@okwallet.example",
            "--data",
            f"@{raw_path}",
            "--timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 OK stored as" in out.stdout
    row = RawMessage.objects.get(message_id="5c3d2e1f.4a5b.18f0c0ffee2.Coremail.wang.fang@163.com")
    assert row.status == "processed"
    assert row.from_addr == "wang.fang@163.com"
    assert "Coremail" in bytes(row.raw).decode("latin-1")


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed (apt-get install swaks)")
def test_swaks_25_mb_attachment_is_stored_raw_and_flagged(smtp_receiver, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x00" * (25 * 1024 * 1024))
    out = subprocess.run(
        [
            "swaks",
            "--server",
            f"{smtp_receiver.hostname}:{smtp_receiver.port}",
            "--from",
            "dave@example.com",
            "--to",
            "support@okwallet.example",
            "--header",
            "Subject: 大附件",
            "--header",
            "Message-Id: <big-25mb@example.com>",
            "--attach",
            f"@{big}",
            "--timeout",
            "120",
            "--suppress-data",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    row = RawMessage.objects.get(message_id="big-25mb@example.com")
    assert row.size > 25 * 1024 * 1024
    assert "attachment_too_large" in row.flags
    assert row.ticket_number  # the customer's words still become a ticket
    att = row.attachments.get(size=25 * 1024 * 1024)
    assert att.content is None and att.skipped_reason


def test_bad_input_over_smtp_is_never_lost(smtp_receiver):
    names = ["malformed_mime.eml", "header_injection_subject.eml", "html_script.eml", "winmail_dat.eml"]
    with smtplib.SMTP(smtp_receiver.hostname, smtp_receiver.port, timeout=30) as client:
        for name in names:
            client.sendmail("x@example.com", ["support@okwallet.example"], fixture(name))
    assert RawMessage.objects.count() == len(names)
    assert not RawMessage.objects.filter(status="received").exists()
