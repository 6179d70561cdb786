"""Reads: ticket lookups with permission (``access_ticket``), inboxes, customer 360, dashboard."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import import_module
from importlib.util import find_spec

from django.contrib.auth import get_user_model
from django.core import signing
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from okwallet.accounts.roles import SENIOR_MANAGER, SUPERVISOR, has_role, is_staff_member
from okwallet.core.errors import NotAuthenticated, NotFound
from okwallet.core.timeutil import now_utc
from okwallet.helpdesk.models import OPEN_STATUSES, AgentPresence, Queue, Ticket
from okwallet.helpdesk.routing import can_work_queue, queue_ids_for

NUMBER_RE = re.compile(r"^OK\d{12}$")


def _optional(module: str, name: str):
    if find_spec(module.rsplit(".", 1)[0]) is None:
        return None
    try:
        return getattr(import_module(module), name, None)
    except ImportError:
        return None


def ticket_by_number(number: str) -> Ticket | None:
    number = (number or "").strip().upper()
    if not NUMBER_RE.match(number):
        return None
    return Ticket.objects.select_related("queue", "customer", "assignee").filter(number=number).first()


def agents_available(queue_code: str | None = None) -> list:
    """Staff who are online (for chat/voice: capacity is theirs to check), optionally in a queue."""
    qs = get_user_model().objects.filter(
        is_active=True, is_staff=True, presence__status=AgentPresence.State.ONLINE
    )
    if queue_code:
        qs = qs.filter(helpdesk_queues__code=queue_code)
    return list(qs.select_related("presence").order_by("id").distinct())


def staff_can_see(user, ticket: Ticket) -> bool:
    if not is_staff_member(user):
        return False
    if ticket.assignee_id == user.pk:
        return True
    return can_work_queue(user, ticket.queue)


def access_ticket(actor, number: str, *, for_update: bool = False) -> Ticket:
    """The one permission check for a ticket: its customer, or staff allowed on its queue (or its
    assignee). Anyone else gets "not found" (404), so numbers cannot be probed."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise NotAuthenticated()
    qs = Ticket.objects.select_related("queue", "customer", "assignee")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    ticket = qs.filter(number=(number or "").strip().upper()).first()
    if ticket is None:
        raise NotFound("ticket_not_found", _("No such ticket."))
    if is_staff_member(actor):
        if staff_can_see(actor, ticket):
            return ticket
    elif ticket.customer_id == actor.pk:
        return ticket
    raise NotFound("ticket_not_found", _("No such ticket."))


def tickets_visible_to(user):
    qs = Ticket.objects.select_related("queue", "assignee", "customer")
    queues = queue_ids_for(user)
    if queues is None:
        if has_role(user, SUPERVISOR, "admin"):
            return qs
        # senior managers: everything incl. complaints
        return qs
    return qs.filter(Q(queue_id__in=queues) | Q(assignee=user))


def inbox(user, *, view: str = "mine", queue_code: str = "", q: str = "", status: str = ""):
    """Tickets for an inbox view: ``mine``, ``unassigned``, ``breaching``, ``queue``, ``all``."""
    from okwallet.helpdesk import search

    qs = tickets_visible_to(user)
    if view == "mine":
        qs = qs.filter(assignee=user, status__in=OPEN_STATUSES)
    elif view == "unassigned":
        qs = qs.filter(assignee__isnull=True, status__in=OPEN_STATUSES)
    elif view == "breaching":
        soon = now_utc() + timedelta(hours=4)
        qs = qs.filter(status__in=[s for s in OPEN_STATUSES if s != "pending"]).filter(
            Q(first_response_due__lte=soon, first_responded_at__isnull=True)
            | Q(next_response_due__lte=soon)
            | Q(resolution_due__lte=soon)
            | Q(complaint_first_contact_due__lte=soon, complaint_first_contact_at__isnull=True)
            | Q(complaint_outcome_due__lte=soon, outcome_recorded_at__isnull=True)
        )
    if queue_code:
        qs = qs.filter(queue__code=queue_code)
    if status:
        qs = qs.filter(status=status)
    if q:
        q = q.strip()
        if NUMBER_RE.match(q.upper()):
            qs = qs.filter(number=q.upper())
        else:
            qs = search.filter_queryset(qs, q)
    if view == "breaching":
        return qs.order_by("resolution_due", "id")
    return qs.order_by("-created_at", "-id")


def customer_tickets(user):
    return Ticket.objects.filter(customer=user).select_related("queue").order_by("-created_at", "-id")


def queues_for(user) -> list[Queue]:
    return [q for q in Queue.objects.order_by("id") if can_work_queue(user, q)]


def transaction_lookup(reference: str):
    """Transaction by reference via payments; ``None`` when payments is not installed, ``False``
    when it is and has no such transaction."""
    finder = _optional("okwallet.payments.selectors", "transaction_by_reference")
    if finder is None:
        return None
    return finder(reference) or False


def csat_token(ticket: Ticket) -> str:
    return signing.dumps({"t": ticket.pk}, salt="helpdesk.csat")


def csat_ticket(token: str, *, max_age_days: int = 30) -> Ticket | None:
    try:
        data = signing.loads(token, salt="helpdesk.csat", max_age=max_age_days * 86400)
    except signing.BadSignature:
        return None
    return Ticket.objects.filter(pk=data.get("t")).first()


def csat_url(ticket: Ticket) -> str:
    return reverse("helpdesk:csat", args=[csat_token(ticket)])


# --- masking ------------------------------------------------------------------------------


def mask_phone(phone: str) -> str:
    if not phone:
        return ""
    digits = phone[-11:] if len(phone) >= 11 else phone
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


def mask_email(email: str) -> str:
    if not email or "@" not in email:
        return email
    local, domain = email.split("@", 1)
    return (local[:1] + "***" + local[-1:] if len(local) > 2 else local[:1] + "***") + "@" + domain


def mask_name(name: str) -> str:
    if not name:
        return ""
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# --- customer 360 -----------------------------------------------------------------------------


def customer_360(user, *, viewer, revealed: bool = False) -> dict:
    """Everything an agent needs about one customer, PII masked unless ``revealed`` (the caller
    audits the reveal). Wallet, real-name and contacts come from other apps when installed."""
    realname_for = _optional("okwallet.accounts.selectors", "realname_for")
    wallet_summary = _optional("okwallet.payments.selectors", "wallet_summary")
    transactions_for = _optional("okwallet.payments.selectors", "transactions_for")
    payment_class_for = _optional("okwallet.accounts.selectors", "payment_class_for")
    realname = realname_for(user) if realname_for else None
    wallet = wallet_summary(user) if wallet_summary else None
    transactions = list(transactions_for(user, limit=10)) if transactions_for else []
    payment_class = payment_class_for(user) if payment_class_for else None
    from okwallet.core.hooks import collect_flat

    contacts = sorted(
        collect_flat("customer_360_contacts", user), key=lambda c: str(c.get("when", "")), reverse=True
    )[:20]
    tickets = list(customer_tickets(user)[:20])
    phone = user.phone or ""
    from okwallet.core.money import format_fen

    wallet_display = None
    if wallet:
        wallet_display = {
            k: format_fen(int(wallet.get(f"{k}_fen") or 0))
            for k in ("available", "pending_out", "pending_in")
        }
    for txn in transactions:
        try:
            txn.amount_display = format_fen(int(txn.amount_fen))
        except (AttributeError, TypeError, ValueError):
            txn.amount_display = ""
    return {
        "customer": user,
        "revealed": revealed,
        "phone": phone if revealed else mask_phone(phone),
        "email": (user.email or "") if revealed else mask_email(user.email or ""),
        "name": (
            realname.name
            if realname and revealed
            else (
                realname.masked_name
                if realname
                else mask_name(user.display_name)
                if not revealed
                else user.display_name
            )
        ),
        "id_last4": getattr(realname, "id_last4", "") if realname else "",
        "verified": bool(realname and getattr(realname, "verified_at", None)),
        "verified_at": getattr(realname, "verified_at", None) if realname else None,
        "payment_class": payment_class,
        "status": user.status,
        "status_label": user.get_status_display(),
        "locked": user.status in ("frozen",) or not user.is_active,
        "wallet": wallet,
        "wallet_display": wallet_display,
        "transactions": transactions,
        "open_tickets": [t for t in tickets if t.is_open],
        "past_tickets": [t for t in tickets if not t.is_open],
        "contacts": contacts,
        "can_reveal": is_staff_member(viewer),
    }


def customer_search(query: str, *, limit: int = 20, include_closed: bool = False) -> list:
    """One box: phone (full, or last 4 + name), user ID, email, transaction reference, ticket number.
    Closed accounts are hidden from this everyday search unless ``include_closed`` (back office)."""
    found = _customer_search(query, limit=limit)
    if include_closed:
        return found
    return [user for user in found if getattr(user, "status", "") != "closed"]


def _customer_search(query: str, *, limit: int) -> list:
    User = get_user_model()
    query = (query or "").strip()
    if not query:
        return []
    customers = User.objects.filter(is_staff=False)
    digits = re.sub(r"[\s-]", "", query)
    m = re.match(r"^(\d{4})\s*(.+)$", query) or re.match(r"^(.+?)\s*(\d{4})$", query)
    if re.fullmatch(r"\+?\d{11,15}", digits):
        phone = digits if digits.startswith("+") else "+86" + digits[-11:]
        return list(customers.filter(phone=phone)[:limit])
    if re.fullmatch(r"\d{9,10}", digits):
        return list(customers.filter(public_id=digits)[:limit])
    if "@" in query:
        # UPPER(email) = UPPER(%s) on PostgreSQL, backed by accounts' user_email_upper_idx.
        return list(customers.filter(email__iexact=query)[:limit])
    if NUMBER_RE.match(query.upper()):
        ticket = ticket_by_number(query)
        return [ticket.customer] if ticket and ticket.customer_id else []
    if m:
        a, b = m.group(1), m.group(2)
        last4, name = (a, b) if a.isdigit() else (b, a)
        name = name.strip()
        # Transaction references end in four digits too (T261201123045001234, 4220261201…): a
        # "name" with digits in it is tried as a reference first (a nickname may still have some).
        if not any(ch.isdigit() for ch in name):
            return _by_last4_and_name(last4, name, limit=limit)
        return _transaction_owner(query) or _by_last4_and_name(last4, name, limit=limit)
    return _transaction_owner(query)


def _by_last4_and_name(last4: str, name: str, *, limit: int) -> list:
    from okwallet.helpdesk.models import CustomerSearchKey

    # The display name the customer chose, or the verified real name a caller gives on the phone.
    keys = CustomerSearchKey.objects.filter(
        Q(name__startswith=name) | Q(real_name__startswith=name), phone_last4=last4
    )
    return [k.user for k in keys.select_related("user").order_by("user_id")[:limit]]


def _transaction_owner(reference: str) -> list:
    txn = transaction_lookup(reference)
    if txn:
        owner = getattr(txn, "user", None) or getattr(txn, "customer", None)
        return [owner] if owner is not None else []
    return []


def can_see_dashboard(user) -> bool:
    return has_role(user, SUPERVISOR, SENIOR_MANAGER, "admin")


# --- dashboard ------------------------------------------------------------------------------

DASHBOARD_CACHE_SECONDS = 60


def _counts(qs, field: str) -> dict:
    from django.db.models import Count

    return {row[field]: row["n"] for row in qs.values(field).annotate(n=Count("created_at")).order_by(field)}


def contact_heatmap(*, days: int = 28, at=None) -> list[list[int]]:
    """Tickets created per local weekday (0 = Monday) × hour over the last ``days`` days.

    Grouped by UTC hour in the database (one cheap key, from the covering index) and mapped to
    Beijing weekday/hour here: Asia/Shanghai is a whole-hour offset without DST, so hours align."""
    from datetime import UTC

    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from okwallet.core.timeutil import SHANGHAI

    at = at or now_utc()
    grid = [[0] * 24 for _ in range(7)]
    rows = (
        Ticket.objects.filter(created_at__gte=at - timedelta(days=days), created_at__lt=at)
        .annotate(h=TruncHour("created_at", tzinfo=UTC))
        .values("h")
        .annotate(n=Count("created_at"))
        .order_by()
    )
    for row in rows:
        local = row["h"].astimezone(SHANGHAI)
        grid[local.weekday()][local.hour] += row["n"]
    return grid


def quiet_hours(*, days: int = 28, count: int = 3) -> list[dict]:
    """The quietest service hours (weekdays 09–18 local), measured from real contacts:
    ``[{"weekday": 0..6, "hour": 9..17, "contacts": n}]``, cached for an hour."""
    from django.core.cache import cache

    key = f"hd:quiet:{days}:{count}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    grid = contact_heatmap(days=days)
    if sum(map(sum, grid)) < 50:  # too little data to advise anything honest
        result = []
    else:
        by_hour = [(sum(grid[wd][h] for wd in range(5)), h) for h in range(9, 18)]
        busiest = max(n for n, _h in by_hour) or 1
        result = [
            {"hour": h, "contacts": n, "relative": round(n / busiest, 2)} for n, h in sorted(by_hour)[:count]
        ]
        result.sort(key=lambda r: r["hour"])
    cache.set(key, result, 3600)
    return result


def dashboard_stats(*, days: int = 30, use_cache: bool = True) -> dict:
    """Figures for the supervisor dashboard over the last ``days`` days (cached a minute)."""
    from django.core.cache import cache
    from django.db.models import Avg, Count, F, Q

    from okwallet.helpdesk.models import Category, Channel, CsatResponse

    key = f"hd:dash:{days}"
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    at = now_utc()
    since = at - timedelta(days=days)
    recent = Ticket.objects.filter(created_at__gte=since)
    by_channel = _counts(recent, "channel")
    by_category = _counts(recent, "category")
    # COUNT(created_at), not COUNT(id): the counted column is in the index, so no heap visits.
    # One pass each over the period and over the open tickets (conditional aggregates that the
    # covering indexes hd_ticket_created_cover / hd_ticket_open_cover answer on PostgreSQL).
    responded = Q(first_responded_at__isnull=False, first_response_due__isnull=False)
    solved = Q(solved_at__isnull=False, resolution_due__isnull=False)
    period = recent.aggregate(
        fr_total=Count("created_at", filter=responded),
        fr_met=Count("created_at", filter=responded & Q(first_responded_at__lte=F("first_response_due"))),
        res_total=Count("created_at", filter=solved),
        res_met=Count("created_at", filter=solved & Q(solved_at__lte=F("resolution_due"))),
    )
    fr_total, fr_met, res_total, res_met = (period[k] for k in ("fr_total", "fr_met", "res_total", "res_met"))
    open_qs = Ticket.objects.filter(status__in=OPEN_STATUSES)
    buckets = [("<1d", 1), ("1–3d", 3), ("3–7d", 7), ("7–15d", 15), (">15d", None)]
    aggregates, lower = {}, 0
    for n, (_label, upper) in enumerate(buckets):
        cond = Q(created_at__lte=at - timedelta(days=lower))
        if upper is not None:
            cond &= Q(created_at__gt=at - timedelta(days=upper))
        aggregates[f"b{n}"] = Count("created_at", filter=cond)
        lower = upper or lower
    open_counts = open_qs.aggregate(
        total=Count("created_at"), breached=Count("created_at", filter=Q(sla_breached=True)), **aggregates
    )
    backlog = [{"label": label, "n": open_counts[f"b{n}"]} for n, (label, _u) in enumerate(buckets)]
    csat_qs = CsatResponse.objects.filter(created_at__gte=since)
    csat_avg = csat_qs.aggregate(a=Avg("score"))["a"]
    csat_dist = _counts(csat_qs.annotate(s=F("score")), "score")
    load_rows = (
        open_qs.filter(assignee__isnull=False)
        .values("assignee__username", "assignee__display_name")
        .annotate(n=Count("created_at"))
        .order_by("-n")[:20]
    )
    overdue_complaints = list(
        open_qs.filter(category=Category.COMPLAINT)
        .filter(
            Q(complaint_first_contact_due__lt=at, complaint_first_contact_at__isnull=True)
            | Q(complaint_outcome_due__lt=at, outcome_recorded_at__isnull=True)
        )
        .values(
            "number", "subject", "complaint_outcome_due", "complaint_first_contact_due", "escalation_level"
        )[:50]
    )
    result = {
        "days": days,
        "generated_at": at.isoformat(),
        "volume_by_channel": {str(Channel(k).label): v for k, v in by_channel.items() if k in Channel.values},
        "volume_by_category": {
            str(Category(k).label): v for k, v in by_category.items() if k in Category.values
        },
        "sla": {
            "first_response_met": fr_met,
            "first_response_total": fr_total,
            "first_response_pct": round(100 * fr_met / fr_total, 1) if fr_total else None,
            "resolution_met": res_met,
            "resolution_total": res_total,
            "resolution_pct": round(100 * res_met / res_total, 1) if res_total else None,
        },
        "backlog_age": backlog,
        "open_total": open_counts["total"],
        "breached_open": open_counts["breached"],
        "csat": {
            "average": round(csat_avg, 2) if csat_avg is not None else None,
            "responses": sum(csat_dist.values()),
            "distribution": {str(i): csat_dist.get(i, 0) for i in range(1, 6)},
        },
        "agent_load": [
            {"agent": r["assignee__display_name"] or r["assignee__username"], "open": r["n"]}
            for r in load_rows
        ],
        "heatmap": contact_heatmap(days=min(days, 28), at=at),
        "overdue_complaints": overdue_complaints,
    }
    cache.set(key, result, DASHBOARD_CACHE_SECONDS)
    return result
