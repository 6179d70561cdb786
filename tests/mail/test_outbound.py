"""Agent replies go out by email with our threading headers; the outbox retries and shows failures."""

from __future__ import annotations

import email
import email.policy

import pytest
from django.core import mail

from okwallet.mail.ingest import mail_ingest_raw
from okwallet.mail.models import OutboundMessage, RawMessage
from okwallet.mail.outbound import MAX_ATTEMPTS, mail_send_ticket_reply, outbound_deliver, outbound_retry
from okwallet.mail.tickets import TicketGateway, helpdesk_available
from tests.mail.dovecot import free_port
from tests.mail.helpers import message

pytestmark = pytest.mark.django_db


def _customer_mail(capture, **kwargs) -> RawMessage:
    with capture(execute=True):
        return mail_ingest_raw(raw=message(**kwargs), source="smtp")


def _agent_reply(ticket, agent, body: str, capture):
    """The agent answers in the console: through the helpdesk (which calls our hook) when it is
    installed, else straight through our service."""
    with capture(execute=True):
        if helpdesk_available():
            from okwallet.helpdesk.services import ticket_add_message

            return ticket_add_message(ticket=ticket, body=body, author=agent, public=True, channel="email")
        row = mail_send_ticket_reply(ticket=ticket, message=type("M", (), {"pk": 1, "body": body})())
        return row


def test_agent_reply_is_emailed_with_our_threading_headers(agent, django_capture_on_commit_callbacks):
    first = _customer_mail(
        django_capture_on_commit_callbacks, sender="Carol <carol@example.com>", subject="提现失败"
    )
    ticket = TicketGateway().get(first.ticket_number).obj
    mail.outbox.clear()

    _agent_reply(ticket, agent, "您好，提现已重新提交，请留意到账。", django_capture_on_commit_callbacks)

    reply = OutboundMessage.objects.get(kind="reply")
    assert reply.status == "sent"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["carol@example.com"]
    assert sent.subject == f"Re: [{first.ticket_number}] 提现失败"
    parsed = email.message_from_bytes(sent.message().as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == f"<{reply.message_id}>"
    assert parsed["In-Reply-To"] == f"<{first.message_id}>"
    assert f"<{first.message_id}>" in parsed["References"]
    assert "Auto-Submitted" not in parsed  # a person wrote this one
    assert "提现已重新提交" in sent.body


def test_customer_answer_to_the_agent_reply_threads_back(agent, django_capture_on_commit_callbacks):
    first = _customer_mail(django_capture_on_commit_callbacks, sender="carol@example.com")
    ticket = TicketGateway().get(first.ticket_number).obj
    _agent_reply(ticket, agent, "请提供截图", django_capture_on_commit_callbacks)
    reply = OutboundMessage.objects.get(kind="reply")
    answer = _customer_mail(
        django_capture_on_commit_callbacks,
        sender="carol@example.com",
        subject=reply.subject,
        in_reply_to=reply.message_id,
        references=[*reply.references, reply.message_id],
        body="截图见附件",
    )
    assert answer.ticket_number == first.ticket_number
    assert answer.thread_by == "in_reply_to"


def test_reply_is_queued_once_per_ticket_message(agent, django_capture_on_commit_callbacks):
    first = _customer_mail(django_capture_on_commit_callbacks)
    ticket = TicketGateway().get(first.ticket_number).obj
    msg = type("M", (), {"pk": 424242, "body": "一次"})()
    a = mail_send_ticket_reply(ticket=ticket, message=msg)
    b = mail_send_ticket_reply(ticket=ticket, message=msg)
    assert a.pk == b.pk
    assert OutboundMessage.objects.filter(kind="reply").count() == 1


def test_failed_sends_are_retried_then_marked_failed_and_an_agent_can_retry(settings, agent):
    # A real SMTP connection to a port where nothing listens.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    row = OutboundMessage.objects.create(
        kind="reply",
        source_ref="reply:t1",
        message_id="m1@okwallet.example",
        ticket_number="OK261201000001",
        to_addr="carol@example.com",
        from_addr="support@okwallet.example",
        subject="Re: [OK261201000001] x",
        body_text="hi",
    )
    counts = outbound_deliver(ids=[row.pk])
    row.refresh_from_db()
    assert counts["retry"] == 1 and row.status == "queued" and row.attempts == 1
    assert row.next_attempt_at is not None and "Connection" in row.last_error
    assert outbound_deliver(ids=[row.pk])["retry"] == 0  # not due yet: backing off
    for _ in range(MAX_ATTEMPTS - 1):
        OutboundMessage.objects.filter(pk=row.pk).update(next_attempt_at=None)  # time passes
        outbound_deliver(ids=[row.pk])
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    outbound_retry(outbound=row, actor=agent)
    outbound_deliver(ids=[row.pk])
    row.refresh_from_db()
    assert row.status == "sent"
    from okwallet.core.models import AuditLogEntry

    assert AuditLogEntry.objects.filter(action="mail.outbound_retry", actor=agent).exists()


def test_hook_ignores_chat_tickets_without_email(agent):
    from okwallet.mail.hooks import on_ticket_public_reply

    ticket = type(
        "T", (), {"channel": "chat", "requester_email": "", "number": "OK261201000009", "customer": None}
    )()
    assert on_ticket_public_reply(ticket, type("M", (), {"pk": 9, "body": "x"})()) is None
    assert OutboundMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_reply_goes_out_over_real_smtp_and_our_own_mail_coming_back_is_not_a_loop(settings):
    """Our receiver plays the customer's mail server: the reply arrives with our headers, and
    being from our own address it is stored as automatic mail, never a new ticket."""
    from okwallet.mail.receiver import ReceiverController

    controller = ReceiverController(host="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
        settings.OKWALLET_MAIL_ADDRESS = "support@okwallet.example"
        row = OutboundMessage.objects.create(
            kind="reply",
            source_ref="reply:smtp1",
            message_id="smtp1.ok261201000001@okwallet.example",
            ticket_number="OK261201000001",
            to_addr="carol@example.com",
            from_addr="OK钱包客服 <support@okwallet.example>",
            subject="Re: [OK261201000001] 提现失败",
            body_text="您好，已为您重新提交。",
            in_reply_to="carol-1@example.com",
            references=["carol-1@example.com"],
        )
        assert outbound_deliver(ids=[row.pk])["sent"] == 1
    finally:
        controller.stop()
    arrived = RawMessage.objects.get(message_id="smtp1.ok261201000001@okwallet.example")
    assert arrived.in_reply_to == "carol-1@example.com"
    assert arrived.subject == "Re: [OK261201000001] 提现失败"
    assert arrived.status == "ignored" and "our own address" in arrived.status_reason
    assert "已为您重新提交" in arrived.text


@pytest.mark.skipif(not helpdesk_available(), reason="needs okwallet.helpdesk")
def test_files_the_agent_attached_go_out_with_the_reply(
    agent, django_capture_on_commit_callbacks, settings, tmp_path
):
    from okwallet.helpdesk.services import ticket_add_message

    settings.MEDIA_ROOT = tmp_path
    first = _customer_mail(django_capture_on_commit_callbacks, sender="carol@example.com")
    ticket = TicketGateway().get(first.ticket_number).obj
    mail.outbox.clear()
    pdf = b"%PDF-1.4 receipt"
    with django_capture_on_commit_callbacks(execute=True):
        ticket_add_message(
            ticket=ticket,
            body="回单见附件",
            author=agent,
            public=True,
            channel="email",
            attachments=[{"filename": "回单.pdf", "content": pdf, "content_type": "application/pdf"}],
        )
    sent = mail.outbox[0]
    assert sent.attachments and sent.attachments[0][0] == "回单.pdf" and sent.attachments[0][1] == pdf
