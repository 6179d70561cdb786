"""Ticket API: customers see and answer their own tickets; staff work the queues they may see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import BaseModel

from okwallet.accounts.roles import is_staff_member
from okwallet.core import ratelimit
from okwallet.core.errors import InvalidInput, NotFound, PermissionDenied
from okwallet.helpdesk import complaints, routing, selectors, services
from okwallet.helpdesk import search as search_tickets

router = Router(tags=["helpdesk"])
StatusName = Literal["new", "open", "pending", "on_hold", "solved", "closed"]
CURSOR_PATTERN = r"^[0-9]{1,17}_[0-9]{1,18}$"


class TicketIn(Schema):
    category: Literal["password", "deposit", "withdrawal", "transfer", "security", "account_closure", "other"]
    subject: str = Field(..., min_length=1, max_length=200, pattern=r"\S")
    body: str = Field(..., min_length=1, max_length=10000, pattern=r"\S")
    reference: str = Field("", max_length=64, description="transaction reference, if any")


class ComplaintIn(Schema):
    kind: Literal["complaint", "suggestion"] = "complaint"
    subject: str = Field(..., min_length=1, max_length=200, pattern=r"\S")
    body: str = Field(..., min_length=1, max_length=10000, pattern=r"\S")
    reference: str = Field("", max_length=64)
    contact_phone: str = Field("", max_length=20)


class MessageIn(Schema):
    body: str = Field(..., min_length=1, max_length=20000, pattern=r"\S")
    internal: bool = Field(False, description="staff only: internal note")
    set_status: StatusName | None = Field(None, description="staff only: status after the reply")


class StatusIn(Schema):
    status: StatusName


class AssignIn(Schema):
    assignee: str | None = Field(None, description="staff username; null to unassign")


class CsatIn(Schema):
    score: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=2000)


class MessageOut(Schema):
    id: int
    kind: str
    public: bool
    body: str
    created_at: datetime
    author: str | None


class TicketOut(BaseModel):
    # A plain pydantic model, not a ninja Schema: the list builds dicts, so ninja's per-attribute
    # Django getter (a third of the list's CPU for 25 rows) has nothing to do.
    number: str
    subject: str
    status: str
    category: str
    priority: int
    channel: str
    queue: str
    created_at: datetime
    updated_at: datetime
    assignee: str | None = None
    complaint_first_contact_due: datetime | None = None
    complaint_outcome_due: datetime | None = None
    outcome: str = ""


class TicketDetailOut(TicketOut):
    messages: list[MessageOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


def _out(ticket, *, staff: bool) -> dict:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "category": ticket.category,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "queue": ticket.queue.code,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "assignee": (ticket.assignee.username if ticket.assignee_id else None) if staff else None,
        "complaint_first_contact_due": ticket.complaint_first_contact_due,
        "complaint_outcome_due": ticket.complaint_outcome_due,
        "outcome": ticket.outcome,
    }


def _detail(ticket, *, staff: bool) -> dict:
    msgs = ticket.messages.select_related("author")
    if not staff:
        msgs = msgs.filter(public=True)
    data = _out(ticket, staff=staff)
    data["messages"] = [
        {
            "id": m.pk,
            "kind": m.kind,
            "public": m.public,
            "body": m.body,
            "created_at": m.created_at,
            "author": (m.author.username if m.author else None) if staff else None,
        }
        for m in msgs
    ]
    return data


# The list's columns, read as plain values: no model instances, no unused column conversions
# (bench/tickets.py: the list request spent most of its CPU building ticket, queue and user objects).
LIST_FIELDS = (
    "id",
    "number",
    "subject",
    "status",
    "category",
    "priority",
    "channel",
    "queue__code",
    "created_at",
    "updated_at",
    "assignee_id",
    "assignee__username",
    "complaint_first_contact_due",
    "complaint_outcome_due",
    "outcome",
)


def _row_out(row: dict, *, staff: bool) -> dict:
    return {
        "number": row["number"],
        "subject": row["subject"],
        "status": row["status"],
        "category": row["category"],
        "priority": row["priority"],
        "channel": row["channel"],
        "queue": row["queue__code"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "assignee": (row["assignee__username"] if row["assignee_id"] else None) if staff else None,
        "complaint_first_contact_due": row["complaint_first_contact_due"],
        "complaint_outcome_due": row["complaint_outcome_due"],
        "outcome": row["outcome"],
    }


def _page(qs, cursor: str | None, limit: int, *, search: str = ""):
    """Keyset pagination on (created_at, id) descending: constant cost however deep. ``qs`` yields
    dicts with at least ``created_at`` and ``id``; ``search`` keeps only tickets matching it."""
    if cursor:
        import re

        from django.db.models import Q

        if not re.fullmatch(CURSOR_PATTERN, cursor):
            raise InvalidInput("invalid_cursor", _("The page cursor is not valid."))
        micros, pk = (int(part) for part in cursor.split("_"))
        try:
            moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return [], None  # beyond any stored moment: nothing older
        qs = qs.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    rows = search_tickets.newest_matches(qs, search, limit + 1) if search else list(qs[: limit + 1])
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = f"{int(last['created_at'].timestamp() * 1_000_000)}_{last['id']}"
        rows = rows[:limit]
    return rows, nxt


@router.get(
    "/tickets", response=TicketPage, summary="List tickets (own for customers; inbox views for staff)"
)
def tickets_list(
    request,
    view: Literal["mine", "unassigned", "breaching", "all"] = "mine",
    queue: str = Query("", max_length=30),
    q: str = Query("", max_length=100),
    status: StatusName | None = None,
    cursor: str | None = Query(None, pattern=CURSOR_PATTERN),
    limit: int = Query(25, ge=1, le=100),
):
    user = request.auth
    staff = is_staff_member(user)
    search = ""
    if staff:
        if view != "breaching" and q.strip() and not selectors.NUMBER_RE.match(q.strip().upper()):
            search, q = q, ""  # words: searched page by page (search.newest_matches)
        qs = selectors.inbox(user, view=view, queue_code=queue, q=q, status=status or "")
        if view == "breaching":
            rows = list(qs.values(*LIST_FIELDS)[:limit])
            return {"items": [_row_out(t, staff=True) for t in rows], "next_cursor": None}
    else:
        qs = selectors.customer_tickets(user).select_related("queue")
        if status:
            qs = qs.filter(status=status)
    qs = qs.select_related(None).order_by("-created_at", "-id").values(*LIST_FIELDS)
    rows, nxt = _page(qs, cursor, limit, search=search)
    return {"items": [_row_out(t, staff=staff) for t in rows], "next_cursor": nxt}


@router.post("/tickets", response={201: TicketDetailOut}, summary="Open a request (customers)")
def tickets_create(request, payload: TicketIn):
    user = request.auth
    if is_staff_member(user):
        raise PermissionDenied("customers_only", _("Staff open tickets from the console."))
    ratelimit.enforce(f"hd:create:{user.pk}", limit=10, window_seconds=3600)
    ticket = services.ticket_create(
        channel="api",
        category=payload.category,
        subject=payload.subject,
        body=payload.body,
        customer=user,
        facts={"reference": payload.reference} if payload.reference else {},
    )
    return Status(201, _detail(ticket, staff=False))


@router.post(
    "/complaints", response={201: TicketDetailOut}, summary="File a complaint or suggestion (投诉与建议)"
)
def complaints_create(request, payload: ComplaintIn):
    user = request.auth
    if is_staff_member(user):
        raise PermissionDenied("customers_only", _("Staff open tickets from the console."))
    ratelimit.enforce(f"hd:create:{user.pk}", limit=10, window_seconds=3600)
    ticket = complaints.complaint_file(
        customer=user,
        kind=payload.kind,
        subject=payload.subject,
        body=payload.body,
        channel="api",
        reference=payload.reference,
        contact_phone=payload.contact_phone,
    )
    return Status(201, _detail(ticket, staff=False))


@router.get("/tickets/{number}", response=TicketDetailOut, summary="One ticket with its messages")
def tickets_get(request, number: str):
    ticket = selectors.access_ticket(request.auth, number)
    return _detail(ticket, staff=is_staff_member(request.auth))


@router.post(
    "/tickets/{number}/messages", response={201: MessageOut}, summary="Reply (or staff: internal note)"
)
def tickets_reply(request, number: str, payload: MessageIn):
    user = request.auth
    ticket = selectors.access_ticket(user, number)
    staff = is_staff_member(user)
    if not staff and (payload.internal or payload.set_status):
        raise PermissionDenied("staff_only", _("Only agents can write internal notes or set the status."))
    ratelimit.enforce(f"hd:reply:{user.pk}", limit=120, window_seconds=3600)
    message = services.ticket_add_message(
        ticket=ticket,
        body=payload.body,
        author=user,
        public=not payload.internal,
        channel="api",
        set_status=payload.set_status,
        from_customer=not staff,
        request=request,
    )
    return Status(
        201,
        {
            "id": message.pk,
            "kind": message.kind,
            "public": message.public,
            "body": message.body,
            "created_at": message.created_at,
            "author": user.username if staff else None,
        },
    )


def _staff_ticket(request, number):
    if not is_staff_member(request.auth):
        selectors.access_ticket(request.auth, number)  # 404 for others' tickets, then 403 for own
        raise PermissionDenied()
    return selectors.access_ticket(request.auth, number)


@router.post("/tickets/{number}/status", response=TicketOut, summary="Change the status (staff)")
def tickets_status(request, number: str, payload: StatusIn):
    ticket = _staff_ticket(request, number)
    return _out(
        services.ticket_set_status(ticket=ticket, status=payload.status, actor=request.auth, request=request),
        staff=True,
    )


@router.post("/tickets/{number}/assign", response=TicketOut, summary="Assign to an agent (staff)")
def tickets_assign(request, number: str, payload: AssignIn):
    ticket = _staff_ticket(request, number)
    assignee = None
    if payload.assignee:
        assignee = get_user_model().objects.filter(username=payload.assignee, is_staff=True).first()
        if assignee is None:
            raise NotFound("agent_not_found", _("No such agent."))
    ticket = routing.ticket_assign(ticket=ticket, assignee=assignee, actor=request.auth, request=request)
    return _out(ticket, staff=True)


@router.post("/tickets/{number}/csat", response={201: dict}, summary="Rate a solved request (customer)")
def tickets_csat(request, number: str, payload: CsatIn):
    ticket = selectors.access_ticket(request.auth, number)
    if ticket.customer_id != request.auth.pk:
        raise PermissionDenied()
    row = services.csat_submit(ticket=ticket, score=payload.score, comment=payload.comment)
    return Status(201, {"score": row.score})


@router.get("/helpdesk/dashboard", response=dict, summary="Supervisor dashboard figures")
def dashboard(request, days: int = Query(30, ge=1, le=90)):
    if not selectors.can_see_dashboard(request.auth):
        raise PermissionDenied()
    return selectors.dashboard_stats(days=max(1, min(90, days)))


@router.get(
    "/helpdesk/quiet-hours", response=list[dict], auth=None, summary="Quietest service hours (measured)"
)
def quiet_hours(request):
    return selectors.quiet_hours()
