import re
import threading

import pytest
from django.db import connection

from okwallet.core.errors import InvalidInput
from okwallet.helpdesk import errors
from okwallet.helpdesk.models import Status, Ticket, TicketMessage
from okwallet.helpdesk.selectors import ticket_by_number
from okwallet.helpdesk.services import (
    MAX_ATTACHMENT_BYTES,
    ticket_add_message,
    ticket_create,
    ticket_merge,
    ticket_set_status,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 100


def test_ticket_number_is_date_plus_daily_sequence(alice_ticket, alice):
    assert re.fullmatch(r"OK\d{6}\d{6}", alice_ticket.number)
    second = ticket_create(channel="api", category="other", subject="hi", body="hello", customer=alice)
    assert int(second.number[-6:]) == int(alice_ticket.number[-6:]) + 1
    assert ticket_by_number(second.number) == second


def test_ticket_routes_to_its_category_queue(alice_ticket):
    assert alice_ticket.queue.code == "payments"
    assert alice_ticket.status == Status.NEW
    assert alice_ticket.first_response_due is not None and alice_ticket.resolution_due is not None


def test_same_source_ref_creates_one_ticket(queues):
    a = ticket_create(
        channel="email",
        category="other",
        subject="s",
        body="b",
        source_ref="<m1@x>",
        requester_email="x@example.com",
    )
    b = ticket_create(
        channel="email",
        category="other",
        subject="s",
        body="b",
        source_ref="<m1@x>",
        requester_email="x@example.com",
    )
    assert a.pk == b.pk and Ticket.objects.count() == 1


def test_invalid_category_is_refused_and_nothing_written(queues):
    with pytest.raises(errors.InvalidCategory):
        ticket_create(channel="web", category="lottery", subject="s", body="b")
    assert Ticket.objects.count() == 0


def test_oversize_attachment_is_refused(queues, alice):
    big = {"filename": "a.png", "content_type": "image/png", "content": PNG + b"0" * MAX_ATTACHMENT_BYTES}
    with pytest.raises(errors.AttachmentTooLarge):
        ticket_create(
            channel="web", category="other", subject="s", body="b", customer=alice, attachments=[big]
        )
    assert Ticket.objects.count() == 0


def test_forbidden_file_type_is_refused(queues, alice):
    exe = {"filename": "setup.exe", "content_type": "application/octet-stream", "content": b"MZ\x90\x00"}
    with pytest.raises(errors.AttachmentTypeForbidden):
        ticket_create(
            channel="web", category="other", subject="s", body="b", customer=alice, attachments=[exe]
        )
    fake_png = {"filename": "x.png", "content_type": "image/png", "content": b"MZ not a png"}
    with pytest.raises(errors.AttachmentTypeForbidden):
        ticket_create(
            channel="web", category="other", subject="s", body="b", customer=alice, attachments=[fake_png]
        )
    assert Ticket.objects.count() == 0


def test_png_attachment_is_stored(queues, alice, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    t = ticket_create(
        channel="web",
        category="other",
        subject="s",
        body="b",
        customer=alice,
        attachments=[{"filename": "shot.png", "content_type": "image/png", "content": PNG}],
    )
    att = t.attachments.get()
    assert att.size == len(PNG) and att.content_type == "image/png"


def test_customer_reply_reopens_a_solved_ticket(alice_ticket, alice, agent, online):
    online(agent, "payments")
    ticket_add_message(ticket=alice_ticket, body="您好，已为您查询", author=agent)
    ticket_set_status(ticket=alice_ticket, status="solved", actor=agent)
    ticket_add_message(ticket=alice_ticket, body="还是没有到账", author=alice)
    alice_ticket.refresh_from_db()
    assert alice_ticket.status == Status.OPEN
    assert alice_ticket.events.filter(kind="reopened").exists()
    assert alice_ticket.next_response_due is not None


def test_reply_to_closed_ticket_is_refused(alice_ticket, alice, agent, online):
    online(agent, "payments")
    ticket_set_status(ticket=alice_ticket, status="closed", actor=agent)
    with pytest.raises(errors.TicketClosed):
        ticket_add_message(ticket=alice_ticket, body="hello?", author=alice)
    assert alice_ticket.messages.count() == 1


def test_agent_reply_waits_for_customer_and_pauses_sla(alice_ticket, agent, online):
    online(agent, "payments")
    ticket_add_message(ticket=alice_ticket, body="请提供交易号", author=agent)
    alice_ticket.refresh_from_db()
    assert alice_ticket.status == Status.PENDING
    assert alice_ticket.first_responded_at is not None
    assert alice_ticket.sla_paused_at is not None and "resolution_due" in alice_ticket.sla_remaining


def test_customer_cannot_write_internal_notes(alice_ticket, alice):
    with pytest.raises(InvalidInput):
        ticket_add_message(ticket=alice_ticket, body="x", author=alice, public=False)


def test_message_source_ref_is_idempotent(alice_ticket, alice):
    a = ticket_add_message(
        ticket=alice_ticket, body="again", author=alice, channel="email", source_ref="<r1@x>"
    )
    b = ticket_add_message(
        ticket=alice_ticket, body="again", author=alice, channel="email", source_ref="<r1@x>"
    )
    assert a.pk == b.pk
    assert TicketMessage.objects.filter(ticket=alice_ticket).count() == 2


def test_html_body_is_sanitised(alice_ticket, alice):
    m = ticket_add_message(
        ticket=alice_ticket, body="x", body_html='<p onclick="evil()">hi<script>x</script></p>', author=alice
    )
    assert "script" not in m.body_html and "onclick" not in m.body_html and "hi" in m.body_html


def test_merge_moves_messages_and_closes_source(alice, agent, online, queues):
    online(agent, "payments")
    a = ticket_create(channel="web", category="deposit", subject="one", body="first", customer=alice)
    b = ticket_create(channel="email", category="deposit", subject="two", body="second", customer=alice)
    ticket_merge(source=b, target=a, actor=agent)
    b.refresh_from_db()
    assert b.status == Status.CLOSED and b.merged_into_id == a.pk
    assert a.messages.filter(body="second").exists()


def test_merge_of_two_customers_tickets_is_refused(alice, bob, agent, queues):
    a = ticket_create(channel="web", category="deposit", subject="one", body="first", customer=alice)
    b = ticket_create(channel="web", category="deposit", subject="two", body="second", customer=bob)
    with pytest.raises(InvalidInput):
        ticket_merge(source=b, target=a, actor=agent)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_gets_distinct_numbers(queues):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict.get("NAME", "")):
        pytest.skip("in-memory SQLite is one connection")
    numbers, failures = [], []

    def make(i):
        from django.db import connection as conn

        try:
            numbers.append(
                ticket_create(
                    channel="api", category="other", subject=f"t{i}", body="b", auto_assign=False
                ).number
            )
        except Exception as exc:  # collect, the assertion below reports
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=make, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(set(numbers)) == 8


def test_public_reply_reaches_the_channels_after_commit(
    alice_ticket, agent, online, django_capture_on_commit_callbacks
):
    from okwallet.core.models import Notification

    online(agent, "payments")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_add_message(ticket=alice_ticket, body="已为您处理", author=agent)
    assert Notification.objects.filter(
        kind="ticket_reply", user=alice_ticket.customer, channel="inapp"
    ).exists()


def test_email_ticket_reply_is_mailed(queues, agent, online, django_capture_on_commit_callbacks):
    pytest.importorskip("okwallet.mail.models")
    from okwallet.mail.models import OutboundMessage

    online(agent, "general")
    t = ticket_create(
        channel="email",
        category="other",
        subject="Fees?",
        body="What are the fees?",
        requester_email="visitor@example.com",
        source_ref="<q1@example.com>",
    )
    with django_capture_on_commit_callbacks(execute=True):
        ticket_add_message(ticket=t, body="No fees for deposits.", author=agent)
    assert OutboundMessage.objects.filter(to_addr__contains="visitor@example.com").exists()


def test_internal_note_is_never_sent(alice_ticket, agent, online, django_capture_on_commit_callbacks):
    from okwallet.core.models import Notification

    online(agent, "payments")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_add_message(ticket=alice_ticket, body="内部", author=agent, public=False)
    assert not Notification.objects.filter(kind="ticket_reply").exists()
