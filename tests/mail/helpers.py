"""Helpers for the pipeline tests: real tickets (helpdesk when present, else the stand-in)."""

from __future__ import annotations

import uuid
from pathlib import Path

from okwallet.mail.models import OutboundMessage
from okwallet.mail.outbound import new_message_id
from okwallet.mail.tickets import TicketGateway

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def open_ticket(*, email: str, subject: str = "充值未到账", customer=None):
    """A ticket from ``email`` with one acknowledgement we 'sent' (so replies can thread to it)."""
    ref = TicketGateway().create(
        subject=subject,
        body="第一封邮件",
        body_html="",
        customer=customer,
        requester_email=email,
        requester_name="",
        source_ref=f"test:{uuid.uuid4().hex}",
        facts={},
    )
    sent = OutboundMessage.objects.create(
        kind=OutboundMessage.Kind.ACK,
        source_ref=f"test-ack:{uuid.uuid4().hex}",
        message_id=new_message_id(ref.number),
        ticket_number=ref.number,
        to_addr=email,
        from_addr="support@okwallet.example",
        subject=f"[{ref.number}] {subject}",
        body_text="ack",
        status=OutboundMessage.Status.SENT,
    )
    return ref, sent


def message(
    *,
    sender: str = "carol@example.com",
    subject: str = "充值未到账",
    body: str = "我昨天充值了 100 元，还没有到账。",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    extra_headers: str = "",
) -> bytes:
    from email.header import Header

    mid = message_id or f"{uuid.uuid4().hex}@example.com"
    lines = [
        f"From: {sender}",
        "To: support@okwallet.example",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Message-ID: <{mid}>",
        "Date: Tue, 01 Dec 2026 10:00:00 +0800",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{r}>" for r in references))
    if extra_headers:
        lines.extend(extra_headers.strip("\r\n").splitlines())
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8")
