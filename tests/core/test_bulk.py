"""insert_rows / update_rows write what the ORM writes, with one prepared statement."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from okwallet.core.bulk import insert_rows, update_rows
from okwallet.mail.models import OutboundMessage, RawMessage


def _raw(n: int, **extra) -> RawMessage:
    return RawMessage(
        idempotency_key=f"mid:{n}@example.com",
        message_id=f"{n}@example.com",
        sha256="0" * 64,
        raw=b"\x00\xffraw bytes",
        size=11,
        source=RawMessage.Source.IMAP,  # a TextChoices member, not a plain str
        received_at=datetime(2026, 12, 1, 2, 3, 4, 567000, tzinfo=UTC),
        flags=["charset_fallback"],
        notes=["一条说明"],
        references=["a@x", "b@x"],
        subject="充值未到账",
        **extra,
    )


def _stored(pk: int) -> dict:
    row = RawMessage.objects.filter(pk=pk).values().get()
    row.pop("id")
    row.pop("idempotency_key")
    row["raw"] = bytes(row["raw"])
    return row


def test_inserted_rows_read_back_like_saved_ones(db, alice):
    saved = _raw(1, customer=alice)
    saved.save()
    lean = _raw(2, customer=alice)
    with CaptureQueriesContext(connection) as ctx:
        insert_rows(RawMessage, [lean], set_pk=True)
    assert len(ctx.captured_queries) == 1
    assert lean.pk is not None and not lean._state.adding
    assert _stored(lean.pk) | {"message_id": "x"} == _stored(saved.pk) | {"message_id": "x"}


def test_auto_now_add_and_related_objects_saved_after_assignment(db, alice):
    from okwallet.helpdesk.models import Queue, Ticket, TicketMessage

    queue = Queue.objects.create(code="q", name="Q")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    ticket = Ticket(
        number="OK261201999999",
        channel="email",
        category="deposit",
        subject="s",
        queue=queue,
        created_at=at,
        updated_at=at,
    )
    message = TicketMessage(ticket=ticket, kind="customer", body="b", created_at=at)  # ticket unsaved
    with pytest.raises(ValueError):
        insert_rows(TicketMessage, [message])
    insert_rows(Ticket, [ticket], set_pk=True)
    insert_rows(TicketMessage, [message], set_pk=True)
    assert TicketMessage.objects.get(pk=message.pk).ticket_id == ticket.pk

    out = OutboundMessage(
        kind="ack", source_ref="ack:1", message_id="m1@x", to_addr="a@x", from_addr="b@x", subject="s"
    )
    insert_rows(OutboundMessage, [out])
    assert OutboundMessage.objects.get(source_ref="ack:1").created_at is not None


def test_ignore_conflicts_returns_only_the_new_rows(db):
    insert_rows(RawMessage, [_raw(1)])
    with transaction.atomic():
        new = insert_rows(
            RawMessage,
            [_raw(1), _raw(2), _raw(3)],
            ignore_conflicts=True,
            returning=("idempotency_key", "id"),
        )
    if new is None:  # a database without RETURNING
        pytest.skip("no RETURNING")
    assert sorted(key for key, _pk in new) == ["mid:2@example.com", "mid:3@example.com"]
    assert RawMessage.objects.count() == 3


def test_many_rows_split_over_statements_keep_their_keys(db):
    rows = [_raw(n) for n in range(700)]
    insert_rows(RawMessage, rows, set_pk=True)
    stored = dict(RawMessage.objects.values_list("idempotency_key", "pk"))
    assert all(stored[r.idempotency_key] == r.pk for r in rows)


def test_update_rows_converts_like_the_orm(db, alice):
    rows = [_raw(1), _raw(2)]
    insert_rows(RawMessage, rows, set_pk=True)
    rows[0].notes = ["改过\x00了"]
    rows[0].customer = alice
    rows[0].processed_at = datetime(2026, 12, 2, tzinfo=UTC)
    rows[1].status = RawMessage.Status.PROCESSED

    def no_nul(value):
        if isinstance(value, list):
            return [v.replace("\x00", "") for v in value]
        return value

    update_rows(RawMessage, rows, ["notes", "customer", "processed_at", "status"], clean=no_nul)
    first, second = (RawMessage.objects.get(pk=r.pk) for r in rows)
    assert first.notes == ["改过了"]
    assert first.customer_id == alice.pk and first.processed_at == datetime(2026, 12, 2, tzinfo=UTC)
    assert second.status == "processed"


def test_update_rows_with_the_same_row_twice_keeps_the_last_values(db):
    row = _raw(1)
    insert_rows(RawMessage, [row], set_pk=True)
    first, second = RawMessage.objects.get(pk=row.pk), RawMessage.objects.get(pk=row.pk)
    first.subject, second.subject = "一", "二"
    update_rows(RawMessage, [first, second], ["subject"])
    assert RawMessage.objects.get(pk=row.pk).subject == "二"
