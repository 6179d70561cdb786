"""TicketBatch: many tickets in one transaction, with the same results as ticket_create."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from okwallet.helpdesk import sla
from okwallet.helpdesk.batch import TicketBatch
from okwallet.helpdesk.models import (
    Queue,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
    WebhookDelivery,
    WebhookEndpoint,
)
from okwallet.helpdesk.services import ticket_create

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def _spec(n, **extra):
    return {
        "channel": "email",
        "category": "deposit",
        "subject": f"充值未到账 {n}",
        "body": f"第 {n} 笔充值没有到账",
        "requester_email": f"c{n}@example.com",
        "source_ref": f"<{n}@example.com>",
        **extra,
    }


def test_batch_tickets_match_what_ticket_create_writes(alice, queues):
    single = ticket_create(**_spec(0, facts={"reference": "DP1"}), customer=alice)
    with transaction.atomic():
        batch = TicketBatch()
        made = batch.create(**_spec(1, facts={"reference": "DP2"}), customer=alice)
        assert made.pk is None and made.number  # numbered at once, written at flush
        batch.flush()
    made.refresh_from_db()
    assert int(made.number[-6:]) == int(single.number[-6:]) + 1
    for name in ("queue_id", "status", "priority", "channel", "customer_id", "requester_phone"):
        assert getattr(made, name) == getattr(single, name), name
    expected = Ticket(category=made.category, priority=made.priority, queue=made.queue)
    sla.start_clocks(expected, at=made.created_at)
    assert (made.first_response_due, made.resolution_due) == (
        expected.first_response_due,
        expected.resolution_due,
    )
    assert made.search_tokens and "充值" in made.search_tokens
    assert [m.kind for m in made.messages.all()] == ["customer"]
    assert TicketLink.objects.get(ticket=made).reference == "DP2"
    assert list(TicketEvent.objects.filter(ticket=made).values_list("kind", flat=True)) == ["created"]


def test_replies_to_a_pending_ticket_are_written_with_it(queues):
    with transaction.atomic():
        batch = TicketBatch()
        ticket = batch.create(**_spec(1))
        batch.add_message(ticket, body="补充：金额是100元", channel="email", source_ref="<r1@x>")
        batch.add_message(ticket, body="同一封又来一次", channel="email", source_ref="<r1@x>")  # idempotent
        note = batch.add_message(ticket, body="退信", channel="email", public=False)
        batch.flush()
    bodies = list(ticket.messages.order_by("id").values_list("kind", "body"))
    assert bodies == [
        ("customer", "第 1 笔充值没有到账"),
        ("customer", "补充：金额是100元"),
        ("note", "退信"),
    ]
    assert note.pk is not None
    assert "100" in Ticket.objects.get(pk=ticket.pk).search_tokens


def test_the_same_source_in_one_batch_is_one_ticket(queues):
    with transaction.atomic():
        batch = TicketBatch()
        first = batch.create(**_spec(1))
        again = batch.create(**_spec(1))
        assert first is again and len(batch) == 1
        batch.flush()
    assert Ticket.objects.filter(source_ref="<1@example.com>").count() == 1


def test_a_source_already_filed_fails_the_flush_and_writes_nothing(queues):
    ticket_create(**_spec(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        batch = TicketBatch()
        batch.create(**_spec(2))
        batch.create(**_spec(1))
        batch.flush()
    assert Ticket.objects.count() == 1


def test_batch_assignment_balances_and_respects_capacity(make_staff, online, queues):
    a = online(make_staff("b1", "agent"), "payments", capacity=2)
    b = online(make_staff("b2", "agent"), "payments", capacity=30)
    ticket_create(**_spec(0))  # least loaded: goes to a (lower id on a tie)
    with transaction.atomic():
        batch = TicketBatch()
        made = [batch.create(**_spec(n)) for n in range(1, 6)]
        batch.flush()
    owners = [Ticket.objects.get(pk=t.pk).assignee for t in made]
    assert owners.count(a) == 1  # capacity 2, one already held
    assert owners.count(b) == 4
    assert TicketEvent.objects.filter(kind="assigned", ticket__in=made).count() == 5


def test_batch_round_robin_continues_where_single_creates_left_off(make_staff, online, queues):
    q = queues["payments"]
    q.strategy = Queue.Strategy.ROUND_ROBIN
    q.save()
    people = [online(make_staff(f"rr{i}", "agent"), "payments") for i in range(3)]
    first = ticket_create(**_spec(0))
    with transaction.atomic():
        batch = TicketBatch()
        made = [batch.create(**_spec(n)) for n in range(1, 5)]
        batch.flush()
    owners = [first.assignee] + [Ticket.objects.get(pk=t.pk).assignee for t in made]
    assert owners == [people[0], people[1], people[2], people[0], people[1]]


def test_complaints_stay_unassigned_and_get_deadlines(manager, online, alice, queues):
    online(manager, "complaints")
    with transaction.atomic():
        batch = TicketBatch()
        t = batch.create(**_spec(1, category="complaint"), customer=alice)
        batch.flush()
    t.refresh_from_db()
    assert t.assignee is None and t.queue.code == "complaints"
    assert t.complaint_first_contact_due and t.complaint_outcome_due


def test_webhooks_and_attachments_in_a_batch(queues):
    WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", secret="s", events=["ticket.created"])
    with transaction.atomic():
        batch = TicketBatch()
        t1 = batch.create(
            **_spec(1), attachments=[{"filename": "a.png", "content": PNG, "content_type": "image/png"}]
        )
        t2 = batch.create(**_spec(2))
        batch.flush()
    payloads = sorted(d.payload["ticket"]["number"] for d in WebhookDelivery.objects.all())
    assert payloads == sorted([t1.number, t2.number])
    message = TicketMessage.objects.get(ticket=t1)
    assert [a.filename for a in message.attachments.all()] == ["a.png"]


def test_statements_per_batch_do_not_grow_with_the_work_per_ticket(make_staff, online, queues):
    online(make_staff("q1", "agent"), "payments")

    def statements(n):
        with CaptureQueriesContext(connection) as ctx, transaction.atomic():
            batch = TicketBatch()
            for i in range(n):
                batch.create(**_spec(f"{n}-{i}", facts={"reference": f"R{n}-{i}"}))
            batch.flush()
        return len(ctx.captured_queries)

    small, large = statements(5), statements(45)
    # one number upsert per ticket; everything else is per batch
    assert large - small <= 40 + 2


def test_replies_to_written_tickets_follow_ticket_add_message_rules(alice, agent, queues):
    from okwallet.helpdesk.services import ticket_add_message, ticket_set_status

    solved = ticket_create(**_spec(1), customer=alice)
    ticket_add_message(ticket=solved, body="已处理", author=agent)
    ticket_set_status(ticket=solved, status="solved", actor=agent)
    waiting = ticket_create(**_spec(2), customer=alice)
    ticket_add_message(ticket=waiting, body="请提供截图", author=agent)  # -> pending, SLA paused
    with transaction.atomic():
        batch = TicketBatch()
        batch.add_message(solved, body="还是没到账", channel="email", source_ref="<s1@x>")
        batch.add_message(waiting, body="截图在附件", channel="email", source_ref="<w1@x>")
        again = batch.add_message(waiting, body="截图在附件", channel="email", source_ref="<w1@x>")
        batch.flush()
    solved.refresh_from_db()
    waiting.refresh_from_db()
    assert solved.status == "open" and solved.solved_at is None
    assert TicketEvent.objects.filter(ticket=solved, kind="reopened").exists()
    assert waiting.status == "open" and waiting.sla_paused_at is None
    assert waiting.next_response_due is not None  # the customer waits for an answer again
    assert again.pk is not None
    assert waiting.messages.filter(source_ref="<w1@x>").count() == 1
    assert "截图" in waiting.search_tokens


def test_a_reply_to_a_ticket_closed_meanwhile_fails_the_flush(alice, agent, queues):
    from okwallet.helpdesk import errors
    from okwallet.helpdesk.services import ticket_add_message, ticket_set_status

    ticket = ticket_create(**_spec(1), customer=alice)
    ticket_add_message(ticket=ticket, body="好的", author=agent)
    ticket_set_status(ticket=ticket, status="solved", actor=agent)
    ticket_set_status(ticket=ticket, status="closed", actor=agent)
    with pytest.raises(errors.TicketClosed), transaction.atomic():
        batch = TicketBatch()
        batch.add_message(ticket, body="再问一下", channel="email")
        batch.flush()
    assert ticket.messages.count() == 2


def test_numbers_come_in_one_block_and_the_unused_rest_goes_back(queues):
    with CaptureQueriesContext(connection) as ctx, transaction.atomic():
        batch = TicketBatch(expected=50)
        made = [batch.create(**_spec(n)) for n in range(1, 4)]
        batch.flush()
    upserts = [q for q in ctx.captured_queries if "helpdesk_dailysequence" in q["sql"].lower()]
    assert len(upserts) == 2  # one block taken, its unused end given back
    seqs = [int(t.number[-6:]) for t in made]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    after = ticket_create(**_spec(9))
    assert int(after.number[-6:]) == seqs[-1] + 1  # no gap


def test_numbers_taken_by_others_inside_the_block_stay_unique(queues):
    with transaction.atomic():
        batch = TicketBatch(expected=10)
        first = batch.create(**_spec(1))
        single = ticket_create(**_spec(2))  # takes the number after the batch's block
        second = batch.create(**_spec(3))
        batch.flush()
    later = ticket_create(**_spec(4))
    numbers = [first.number, single.number, second.number, later.number]
    assert len(set(numbers)) == 4
    assert int(later.number[-6:]) > int(single.number[-6:])  # the block's rest is skipped, not reused


def test_numbers_beyond_the_hint_take_further_blocks(queues):
    with transaction.atomic():
        batch = TicketBatch(expected=2)
        made = [batch.create(**_spec(n)) for n in range(1, 12)]
        batch.flush()
    seqs = [int(t.number[-6:]) for t in made]
    assert seqs == list(range(seqs[0], seqs[0] + 11))


def test_the_same_file_in_many_tickets_is_stored_once(queues):
    png = {"filename": "logo.png", "content": PNG, "content_type": "image/png"}
    single = ticket_create(**_spec(0), attachments=[png])
    with transaction.atomic():
        batch = TicketBatch()
        batch.create(**_spec(1), attachments=[png])
        batch.create(**_spec(2), attachments=[{**png, "filename": "same.png"}])
        batch.flush()
    from okwallet.helpdesk.models import Attachment

    names = set(Attachment.objects.values_list("file", flat=True))
    assert Attachment.objects.count() == 3 and len(names) == 1
    att = Attachment.objects.exclude(ticket=single).first()
    with att.file.open("rb") as f:
        assert f.read() == PNG
