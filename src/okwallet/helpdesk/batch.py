"""Many new tickets in one transaction: the email path's high-throughput entry point.

``ticket_create`` costs about twenty statements per ticket (queue and SLA lookups, inserts of the
ticket, its message, link and event, the webhook lookup, auto-assignment with row locks). A
``TicketBatch`` reads queues, SLA policies and webhook endpoints once, writes tickets, messages,
links, events and webhook deliveries with one ``bulk_create`` each, and assigns per queue in one
pass. Same rules and results as ``ticket_create``; only the statement count differs.

    with transaction.atomic():
        batch = TicketBatch()
        ticket = batch.create(channel="email", category="deposit", subject=..., body=...)
        batch.add_message(ticket, body="and a follow-up", channel="email")  # still unsaved
        batch.flush()                                                          # rows written

A ticket from ``create`` has its number at once (so replies in the same batch can thread to it)
but no primary key until ``flush``. Duplicated ``(channel, source_ref)`` raises IntegrityError at
``flush``; callers that need per-item idempotency fall back to ``ticket_create``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from okwallet.core.bulk import insert_rows, update_rows
from okwallet.core.errors import InvalidInput
from okwallet.core.timeutil import now_utc
from okwallet.helpdesk import errors, search
from okwallet.helpdesk.models import (
    SlaPolicy,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
    TicketMessage,
)
from okwallet.helpdesk.services import (
    CATEGORY_QUEUE,
    CHANNELS,
    NewTicket,
    NumberBlock,
    _clean_html,
    _on_customer_message,
    _set_status,
    _store_attachments_many,
    _ticket_checked,
    _ticket_created_side_effects,
    _validated_attachments,
    queues_ensure,
    ticket_build,
)


class TicketBatch:
    def __init__(self, *, auto_assign: bool = True, expected: int = 1) -> None:
        """``expected``: about how many tickets this batch will create (numbers are taken from
        the daily sequence in blocks of that size; unused ones are given back at ``flush``)."""
        self.auto_assign = auto_assign
        self._numbers = NumberBlock(hint=expected)
        self._queues = None
        self._policies: list[SlaPolicy] | None = None
        self._pending: dict[int, tuple[NewTicket, object]] = {}  # id(ticket) -> (built, actor)
        self._by_source: dict[tuple[str, str], Ticket] = {}
        self._replies: list[tuple[TicketMessage, list]] = []  # on tickets written before
        self._reply_sources: dict[tuple[int, str], TicketMessage] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def is_pending(self, ticket) -> bool:
        return getattr(ticket, "pk", None) is None and id(ticket) in self._pending

    def create(
        self,
        *,
        channel: str,
        category: str,
        subject: str,
        body: str,
        customer=None,
        requester_email: str = "",
        requester_name: str = "",
        requester_phone: str = "",
        priority=None,
        actor=None,
        source_ref: str = "",
        facts: dict | None = None,
        attachments=(),
        body_html: str = "",
        tags: Iterable[str] = (),
    ) -> Ticket:
        """Like ``ticket_create``; the ticket is written at ``flush``."""
        subject, body, priority = _ticket_checked(
            channel=channel, category=category, subject=subject, body=body, priority=priority
        )
        if source_ref and (channel, source_ref) in self._by_source:
            return self._by_source[(channel, source_ref)]
        files = _validated_attachments(attachments)
        if customer is not None and not getattr(customer, "is_authenticated", True):
            customer = None
        if self._queues is None:
            self._queues = queues_ensure()
            self._policies = list(SlaPolicy.objects.all())
        new = ticket_build(
            channel=channel,
            category=category,
            subject=subject,
            body=body,
            body_html=body_html,
            customer=customer,
            requester_email=requester_email,
            requester_name=requester_name,
            requester_phone=requester_phone,
            priority=priority,
            actor=actor,
            source_ref=source_ref,
            facts=facts or {},
            tags=tags,
            queue=self._queues[CATEGORY_QUEUE.get(category, "general")],
            policies=self._policies,
            numbers=self._numbers,
        )
        if files:
            new.files[0] = files
        self._pending[id(new.ticket)] = (new, actor)
        if source_ref:
            self._by_source[(channel, source_ref)] = new.ticket
        return new.ticket

    def add_message(
        self,
        ticket: Ticket,
        *,
        body: str,
        channel: str,
        public: bool = True,
        source_ref: str = "",
        body_html: str = "",
        attachments=(),
        author=None,
    ) -> TicketMessage:
        """Another customer message (or an internal note, ``public=False``), on a ticket of
        this batch or one written before (the email path's replies). Same rules as
        ``ticket_add_message`` for a customer: a solved, pending or on-hold ticket reopens, the
        next-response clock restarts; a closed or merged ticket makes ``flush`` raise
        ``TicketClosed`` (callers then add that message on its own). Idempotent on
        ``source_ref`` within the batch; against earlier messages by the unique constraint."""
        body = (body or "").strip()
        if not body:
            raise InvalidInput("message_empty", _("The message is empty."))
        if channel not in CHANNELS:
            raise InvalidInput("invalid_channel", _("Unknown channel."))
        source_ref = source_ref[:200]
        files = _validated_attachments(attachments)
        message = TicketMessage(
            ticket=ticket,
            kind=TicketMessage.Kind.CUSTOMER if public else TicketMessage.Kind.NOTE,
            public=public,
            author=author if getattr(author, "is_authenticated", False) else None,
            channel=channel,
            source_ref=source_ref,
            body=body,
            body_html=_clean_html(body_html),
            created_at=now_utc(),
        )
        if not self.is_pending(ticket):
            # A reply to a ticket written before: applied under the row lock at flush.
            if ticket.pk is None:
                raise ValueError("add_message needs a saved ticket or one created by this batch")
            key = (ticket.pk, source_ref)
            if source_ref and key in self._reply_sources:
                return self._reply_sources[key]
            self._replies.append((message, files))
            if source_ref:
                self._reply_sources[key] = message
            return message
        new, _actor = self._pending[id(ticket)]
        if source_ref and any(m.source_ref == source_ref for m in new.messages):
            return next(m for m in new.messages if m.source_ref == source_ref)
        if files:
            new.files[len(new.messages)] = files
        new.messages.append(message)
        ticket.search_tokens = search.append_tokens(ticket.search_tokens, body)
        ticket.updated_at = message.created_at
        if public:
            ticket.last_customer_message_at = message.created_at
        return message

    def flush(self) -> list[Ticket]:
        """Write every pending ticket; returns them (with primary keys, assigned where a
        queue's strategy and present agents allow)."""
        if self._replies:
            with transaction.atomic():
                self._flush_replies()
        if not self._pending:
            self._numbers.release()
            return []
        built = list(self._pending.values())
        self._pending.clear()
        self._by_source.clear()
        tickets = [new.ticket for new, _actor in built]
        with transaction.atomic():
            self._numbers.release()
            insert_rows(Ticket, tickets, set_pk=True)
            messages, links, events, files = [], [], [], []
            for new, _actor in built:
                for message in new.messages:
                    message.ticket = new.ticket
                    messages.append(message)
                if new.reference:
                    links.append(
                        TicketLink(
                            ticket=new.ticket, kind=TicketLink.Kind.TRANSACTION, reference=new.reference
                        )
                    )
            insert_rows(TicketMessage, messages, set_pk=True)
            for new, actor in built:
                files += [(new.ticket, new.messages[index], f) for index, f in new.files.items()]
                events.append(_ticket_created_side_effects(new.ticket, actor=actor, emit=False))
            _store_attachments_many(files)
            insert_rows(TicketLink, links)
            insert_rows(TicketEvent, events)
            from okwallet.helpdesk.webhooks import webhook_emit_many

            webhook_emit_many(event="ticket.created", tickets=tickets)
            if self.auto_assign:
                from okwallet.helpdesk.routing import tickets_auto_assign

                tickets_auto_assign(tickets=tickets)
        return tickets

    def _flush_replies(self) -> None:
        replies, self._replies = self._replies, []
        self._reply_sources.clear()
        if self._policies is None:
            self._policies = list(SlaPolicy.objects.all())
        ids = sorted({m.ticket.pk for m, _files in replies})
        rows = {
            t.pk: t
            for t in Ticket.objects.select_for_update(of=("self",))
            .select_related("queue")
            .filter(pk__in=ids)
            .order_by("pk")
        }
        for message, _files in replies:
            row = rows[message.ticket.pk]
            if row.status == Status.CLOSED or row.merged_into_id:
                raise errors.TicketClosed(details={"number": row.number})
            message.ticket = row
            row.search_tokens = search.append_tokens(row.search_tokens, message.body)
            row.updated_at = message.created_at
            if message.kind == TicketMessage.Kind.CUSTOMER:
                _on_customer_message(row, at=message.created_at, policies=self._policies)
            elif row.status == Status.NEW:
                _set_status(row, Status.OPEN, at=message.created_at)
        insert_rows(TicketMessage, [m for m, _files in replies], set_pk=True)
        _store_attachments_many([(m.ticket, m, files) for m, files in replies if files])
        update_rows(Ticket, list(rows.values()), _REPLY_FIELDS)
        from okwallet.helpdesk.webhooks import webhook_emit_many

        webhook_emit_many(event="ticket.message", tickets=list(rows.values()))


# What a customer message changes on its ticket (``_on_customer_message`` and the SLA clocks).
_REPLY_FIELDS = [
    "search_tokens",
    "updated_at",
    "last_customer_message_at",
    "status",
    "solved_at",
    "first_response_due",
    "next_response_due",
    "resolution_due",
    "sla_paused_at",
    "sla_remaining",
]


__all__ = ["TicketBatch"]
