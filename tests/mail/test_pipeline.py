"""The ingest pipeline: store raw → parse → classify → thread → ticket → acknowledgement."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from okwallet.mail.ingest import InboundItem, idempotency_key, mail_ingest, mail_ingest_raw
from okwallet.mail.models import AddressState, MailAttachment, OutboundMessage, RawMessage
from okwallet.mail.tickets import TicketGateway
from tests.mail.helpers import fixture, message, open_ticket

pytestmark = pytest.mark.django_db


def ingest(raw: bytes, capture=None, **kwargs) -> RawMessage:
    if capture is None:
        return mail_ingest_raw(raw=raw, source="smtp", **kwargs)
    with capture(execute=True):
        return mail_ingest_raw(raw=raw, source="smtp", **kwargs)


def test_new_message_is_stored_raw_becomes_a_ticket_and_is_acknowledged_in_chinese(
    django_capture_on_commit_callbacks,
):
    raw = message(sender="Carol 陈 <carol@example.com>")
    row = ingest(raw, django_capture_on_commit_callbacks)

    assert bytes(row.raw) == raw
    assert row.status == RawMessage.Status.PROCESSED
    assert row.thread_by == "new"
    assert row.ticket_number.startswith("OK") and len(row.ticket_number) == 14
    assert TicketGateway().get(row.ticket_number).requester_addresses == {"carol@example.com"}
    assert row.acknowledged
    ack = OutboundMessage.objects.get(kind="ack", ticket_number=row.ticket_number)
    assert ack.status == OutboundMessage.Status.SENT
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["carol@example.com"]
    assert f"[{row.ticket_number}]" in sent.subject
    assert row.ticket_number in sent.body
    assert "个工作日内" in sent.body and "18:00 前" in sent.body
    assert sent.extra_headers["Auto-Submitted"] == "auto-replied"
    assert sent.extra_headers["In-Reply-To"] == f"<{row.message_id}>"


def test_english_mail_gets_an_english_acknowledgement(django_capture_on_commit_callbacks):
    ingest(
        message(subject="Deposit missing", body="I topped up 100 yuan yesterday."),
        django_capture_on_commit_callbacks,
    )
    assert "working days" in mail.outbox[0].body
    assert "个工作日" not in mail.outbox[0].body


def test_the_same_message_delivered_twice_is_stored_and_filed_once():
    raw = message()
    first = ingest(raw)
    result = mail_ingest(items=[InboundItem(raw=raw), InboundItem(raw=raw)], source="imap")
    assert result.stored == 0 and result.duplicates == 2
    assert RawMessage.objects.count() == 1
    assert RawMessage.objects.get().ticket_number == first.ticket_number


def test_same_message_id_with_different_bytes_is_one_message():
    raw = message(message_id="same-id@example.com")
    ingest(raw)
    ingest(b"Received: from relay2\r\n" + raw)
    assert RawMessage.objects.count() == 1


def test_message_without_message_id_is_deduplicated_by_hash():
    raw = b"From: dan@example.com\r\nSubject: hi\r\n\r\nno id here\r\n"
    row = ingest(raw)
    ingest(raw)
    assert RawMessage.objects.count() == 1
    assert row.idempotency_key == idempotency_key(raw)[0]
    assert row.idempotency_key.startswith("sha256:")
    assert row.status == RawMessage.Status.PROCESSED


def test_verified_customer_email_matches_the_customer(alice):
    alice.email_verified = True
    alice.save()
    row = ingest(message(sender="ALICE@example.com"))
    assert row.customer == alice
    ticket = TicketGateway().get(row.ticket_number)
    assert ticket.obj.customer == alice


def test_unverified_email_is_only_a_requester_contact(bob):
    row = ingest(message(sender="Bob <bob@example.com>"))
    assert row.customer is None
    assert TicketGateway().get(row.ticket_number).obj.requester_email == "bob@example.com"


def test_reply_threads_by_in_reply_to_our_message():
    ref, sent = open_ticket(email="carol@example.com")
    row = ingest(message(subject="Re: 充值未到账", in_reply_to=sent.message_id, body="还是没到账"))
    assert row.thread_by == "in_reply_to"
    assert row.ticket_number == ref.number
    assert not row.acknowledged  # follow-ups are not acknowledged again


def test_reply_threads_by_references_when_in_reply_to_is_unknown():
    ref, sent = open_ticket(email="carol@example.com")
    row = ingest(message(in_reply_to="unknown@x", references=[sent.message_id, "unknown@x"]))
    assert (row.thread_by, row.ticket_number) == ("references", ref.number)


def test_reply_threads_to_an_earlier_customer_message():
    first = ingest(message(message_id="first@example.com"))
    second = ingest(message(in_reply_to="first@example.com", sender="carol@example.com"))
    assert second.ticket_number == first.ticket_number


def test_subject_tag_threads_for_the_requester_only():
    ref, _sent = open_ticket(email="carol@example.com")
    mine = ingest(message(subject=f"Re: [{ref.number}] 补充截图"))
    assert (mine.thread_by, mine.ticket_number) == ("subject_tag", ref.number)
    stranger = ingest(message(sender="mallory@example.net", subject=f"[{ref.number}] 我也要"))
    assert stranger.thread_by == "new"
    assert stranger.ticket_number != ref.number
    assert any("not its requester" in n for n in stranger.notes)


def test_replies_in_one_batch_follow_their_parent_in_the_same_batch():
    parent = message(message_id="p1@example.com")
    child = message(in_reply_to="p1@example.com", message_id="c1@example.com")
    grandchild = message(references=["p1@example.com", "c1@example.com"])
    mail_ingest(items=[InboundItem(raw=r) for r in (parent, child, grandchild)], source="imap")
    numbers = set(RawMessage.objects.values_list("ticket_number", flat=True))
    assert len(numbers) == 1
    assert RawMessage.objects.filter(thread_by="new").count() == 1


@pytest.mark.parametrize(
    "name,kind",
    [
        ("out_of_office_x_autoreply.eml", "auto_reply"),
        ("auto_submitted_reply.eml", "auto_reply"),
        ("mailing_list.eml", "list"),
    ],
)
def test_automatic_mail_is_kept_but_never_ticketed_or_answered(
    name, kind, django_capture_on_commit_callbacks
):
    row = ingest(fixture(name), django_capture_on_commit_callbacks)
    assert row.status == RawMessage.Status.IGNORED
    assert row.kind == kind
    assert row.status_reason
    assert not row.ticket_number
    assert OutboundMessage.objects.count() == 0
    assert mail.outbox == []


def test_bulk_precedence_and_auto_submitted_headers_suppress_the_acknowledgement():
    for headers in ("Precedence: bulk", "Auto-Submitted: auto-generated", "X-Autorespond: yes"):
        row = ingest(message(extra_headers=headers))
        assert row.status == RawMessage.Status.IGNORED, headers
    assert OutboundMessage.objects.count() == 0


def test_mail_from_our_own_address_does_not_loop(settings):
    settings.OKWALLET_MAIL_ADDRESS = "support@okwallet.example"
    row = ingest(message(sender="support@okwallet.example"))
    assert row.status == RawMessage.Status.IGNORED
    assert OutboundMessage.objects.count() == 0


def test_bounce_marks_the_address_bouncing_and_later_acks_are_suppressed(django_capture_on_commit_callbacks):
    row = ingest(fixture("dsn_bounce.eml"))
    assert row.status == RawMessage.Status.IGNORED
    assert row.kind in ("dsn", "bounce")
    state = AddressState.objects.get()
    assert state.bouncing and state.bounce_count == 1
    bouncing = state.address
    new = ingest(message(sender=bouncing), django_capture_on_commit_callbacks)
    assert new.status == RawMessage.Status.PROCESSED  # the customer still gets a ticket
    assert not new.acknowledged
    assert mail.outbox == []


def test_bounce_of_our_reply_is_linked_to_its_ticket():
    ref, _sent = open_ticket(email="gone@example.com")
    raw = fixture("dsn_bounce.eml")
    OutboundMessage.objects.create(
        kind="reply",
        source_ref="reply:bounced",
        message_id="ticket.OK261126000131.1@okwallet.cn",
        ticket_number=ref.number,
        to_addr="gone@example.com",
        from_addr="support@okwallet.example",
        subject="x",
        body_text="x",
        status="sent",
    )
    row = ingest(raw)
    assert row.ticket_number == ref.number


def test_sender_over_the_rate_limit_is_held_for_an_agent(settings, django_capture_on_commit_callbacks):
    settings.OKWALLET_MAIL_SENDER_LIMIT = 3
    rows = [ingest(message(body=f"第 {i} 封"), django_capture_on_commit_callbacks) for i in range(5)]
    assert [r.status for r in rows] == ["processed"] * 3 + ["flagged"] * 2
    assert "rate limit" in rows[-1].status_reason
    # One acknowledgement per address per hour, whatever they send.
    assert len(mail.outbox) == 1


def test_one_bad_message_never_stops_the_batch():
    names = [
        "malformed_mime.eml",
        "header_injection_subject.eml",
        "html_script.eml",
        "attachment_over_limit.eml",
        "winmail_dat.eml",
        "wrong_charset_utf8_is_gbk.eml",
    ]
    good = message(body="正常邮件")
    result = mail_ingest(
        items=[InboundItem(raw=fixture(n)) for n in names] + [InboundItem(raw=good)], source="imap"
    )
    assert result.stored == len(names) + 1
    assert RawMessage.objects.filter(status="received").count() == 0
    for row in RawMessage.objects.all():
        assert row.ticket_number or row.status_reason, row
    assert RawMessage.objects.get(message_id=idempotency_key(good)[1]).status == "processed"


def test_header_injection_never_reaches_our_headers(django_capture_on_commit_callbacks):
    row = ingest(fixture("header_injection_subject.eml"), django_capture_on_commit_callbacks)
    assert "header_injection" in row.flags
    assert "\n" not in row.subject and "\r" not in row.subject
    for sent in mail.outbox:
        assert "\n" not in sent.subject
        assert "victim@example.com" not in sent.to + sent.cc + sent.bcc


def test_html_scripts_are_removed_before_anyone_sees_them():
    row = ingest(fixture("html_script.eml"))
    assert "unsafe_html_removed" in row.flags
    assert "<script" not in row.html_sanitized.lower()
    assert "onerror" not in row.html_sanitized.lower()
    assert "javascript:" not in row.html_sanitized.lower()


def test_oversized_attachment_is_recorded_but_not_stored(settings):
    settings.OKWALLET_MAIL_MAX_ATTACHMENT_BYTES = 100 * 1024
    row = ingest(fixture("attachment_over_limit.eml"))
    atts = list(MailAttachment.objects.filter(message=row))
    assert atts and any(a.skipped_reason and a.content is None for a in atts)
    assert "attachment_too_large" in row.flags
    assert row.ticket_number


def test_quotes_are_cut_from_what_the_ticket_shows():
    ref, sent = open_ticket(email="12345678@qq.com")
    raw = fixture("qq_mail_reply.eml").replace(
        b"ticket.OK261126000123.1@okwallet.cn", sent.message_id.encode()
    )
    row = ingest(raw)
    assert row.ticket_number == ref.number
    assert "原始邮件" not in row.text


def test_statements_per_batch_do_not_grow_with_the_messages_in_it(settings):
    """New mail, replies to tickets opened earlier and replies within the batch: the number of
    SQL statements is a constant per batch (no per-message lookups creep in)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.OKWALLET_MAIL_SENDER_LIMIT = 1000
    earlier = [open_ticket(email=f"old{n}@example.com") for n in range(30)]

    def statements(n: int) -> int:
        items = []
        for i in range(n):
            ref, sent = earlier[i]
            mid = f"{uuid.uuid4().hex}@example.com"
            items.append(InboundItem(raw=message(sender=f"new{n}-{i}@example.com", message_id=mid)))
            items.append(InboundItem(raw=message(sender=f"new{n}-{i}@example.com", in_reply_to=mid)))
            items.append(
                InboundItem(raw=message(sender=ref.obj.requester_email, in_reply_to=sent.message_id))
            )
        with CaptureQueriesContext(connection) as ctx:
            result = mail_ingest(items=items, source="imap")
        assert result.tickets_created == n and result.replies_threaded == 2 * n, result
        return len(ctx.captured_queries)

    assert statements(25) == statements(5)
