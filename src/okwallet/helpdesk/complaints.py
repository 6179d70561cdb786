"""Complaints (投诉) and suggestions (建议).

Defaults follow Chinese financial-consumer complaint practice: a senior manager contacts the
customer within 1 working day; the outcome is given within 15 days, extendable once to 30 days
with a notice to the customer. Missed deadlines climb an escalation ladder.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput
from okwallet.core.timeutil import format_local, now_utc
from okwallet.helpdesk import clock, errors
from okwallet.helpdesk.models import Category, Ticket


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def complaint_deadlines(at: datetime) -> tuple[datetime, datetime]:
    first = clock.add_working_days(at, _setting("OKWALLET_COMPLAINT_FIRST_CONTACT_WORKING_DAYS", 1))
    outcome = clock.add_calendar_days_end(at, _setting("OKWALLET_COMPLAINT_OUTCOME_DAYS", 15))
    return first, outcome


# Escalation ladder: level → who is told. Level 1 when the first contact is missed, 2 when the
# outcome deadline is near (2 days), 3 when it is missed.
LADDER = {1: "senior_manager", 2: "supervisor", 3: "admin"}


def complaint_file(
    *,
    customer,
    kind: str,
    subject: str,
    body: str,
    channel: str = "web",
    reference: str = "",
    contact_phone: str = "",
    requester_name: str = "",
    requester_email: str = "",
    attachments=(),
) -> Ticket:
    """The 投诉与建议 form. ``kind`` is ``complaint`` or ``suggestion``."""
    from okwallet.helpdesk.services import ticket_create

    if kind not in (Category.COMPLAINT, Category.SUGGESTION):
        raise errors.InvalidCategory(details={"category": kind, "allowed": ["complaint", "suggestion"]})
    facts = {"reference": reference.strip()} if reference.strip() else {}
    if contact_phone:
        facts["contact_phone"] = contact_phone.strip()[:20]
    return ticket_create(
        channel=channel,
        category=kind,
        subject=subject,
        body=body,
        customer=customer,
        requester_name=requester_name,
        requester_email=requester_email,
        requester_phone=contact_phone,
        facts=facts,
        attachments=attachments,
    )


def complaint_acknowledge(*, ticket: Ticket) -> None:
    """Tell the customer the two deadlines (in-app and SMS). Queued after commit."""
    from okwallet.core.notify import notification_send

    text = _(
        "We received your complaint %(number)s. A senior manager will contact you by %(first)s "
        "and you will have our outcome by %(outcome)s."
    ) % {
        "number": ticket.number,
        "first": format_local(ticket.complaint_first_contact_due),
        "outcome": format_local(ticket.complaint_outcome_due, "%Y-%m-%d"),
    }
    if ticket.customer_id:
        notification_send(
            channel="inapp",
            kind="complaint_ack",
            user=ticket.customer,
            body=text,
            subject=_("Complaint received"),
        )
        if ticket.customer.phone:
            notification_send(channel="sms", kind="complaint_ack", user=ticket.customer, body=text)


def complaint_extend(*, ticket: Ticket, actor, reason: str, request=None) -> Ticket:
    """Extend the outcome deadline once (to 30 days after filing) and tell the customer why."""
    from okwallet.core.notify import notification_send
    from okwallet.helpdesk.services import _emit, _event

    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("extension_reason_required", _("Give the customer a reason for the extension."))
    with transaction.atomic():
        row = Ticket.objects.select_for_update(of=("self",)).select_related("customer").get(pk=ticket.pk)
        if row.category != Category.COMPLAINT:
            raise InvalidInput("not_a_complaint", _("Only complaints have an outcome deadline."))
        if row.complaint_extended_at is not None:
            raise errors.ComplaintAlreadyExtended()
        at = now_utc()
        row.complaint_outcome_due = clock.add_calendar_days_end(
            row.created_at, _setting("OKWALLET_COMPLAINT_EXTENDED_DAYS", 30)
        )
        row.complaint_extended_at = at
        row.complaint_extension_reason = reason[:2000]
        row.updated_at = at
        row.save()
        _event(
            row, "complaint_extended", actor=actor, at=at, outcome_due=row.complaint_outcome_due.isoformat()
        )
        audit_log_write(
            actor=actor, action="complaint.extend", obj=row, request=request, details={"reason": reason}
        )
        text = _(
            "We need more time for complaint %(number)s: %(reason)s. You will have our outcome by %(due)s."
        ) % {
            "number": row.number,
            "reason": reason,
            "due": format_local(row.complaint_outcome_due, "%Y-%m-%d"),
        }
        from okwallet.helpdesk.services import ticket_add_message

        ticket_add_message(
            ticket=row,
            body=text,
            author=actor,
            public=True,
            set_status=row.status if row.status != "new" else "open",
            from_customer=False,
        )
        if row.customer_id:
            notification_send(channel="sms", kind="complaint_extended", user=row.customer, body=text)
        _emit("ticket.updated", row)
    row.refresh_from_db()
    return row


def complaint_record_outcome(
    *, ticket: Ticket, actor, outcome: str, request=None, solve: bool = True
) -> Ticket:
    from okwallet.helpdesk.services import _event, ticket_add_message, ticket_set_status

    outcome = (outcome or "").strip()
    if not outcome:
        raise InvalidInput("outcome_required", _("Describe the outcome."))
    with transaction.atomic():
        row = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if row.category not in (Category.COMPLAINT, Category.SUGGESTION):
            raise InvalidInput("not_a_complaint", _("Only complaints and suggestions have an outcome."))
        at = now_utc()
        row.outcome = outcome[:5000]
        row.outcome_recorded_at = at
        row.save(update_fields=["outcome", "outcome_recorded_at"])
        _event(row, "outcome", actor=actor, at=at)
        audit_log_write(actor=actor, action="complaint.outcome", obj=row, request=request)
        ticket_add_message(
            ticket=row,
            body=outcome,
            author=actor,
            public=True,
            from_customer=False,
            set_status="open" if row.status == "new" else None,
        )
        if solve:
            ticket_set_status(ticket=row, status="solved", actor=actor, request=request)
    row.refresh_from_db()
    return row
