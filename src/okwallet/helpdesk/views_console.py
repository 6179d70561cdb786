"""Agent console: inboxes, ticket view, customer 360 search, supervisor dashboard. Thin views."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from okwallet.console.access import staff_required
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import NotFound, OkError, PermissionDenied
from okwallet.core.hooks import collect_flat
from okwallet.core.paging import CappedPaginator
from okwallet.helpdesk import complaints, routing, selectors, services
from okwallet.helpdesk.forms import AgentReplyForm, TicketUpdateForm
from okwallet.helpdesk.models import AgentPresence, Macro, Status

REVEAL_SECONDS = 300
INBOX_VIEWS = [
    ("mine", gettext_lazy("Mine")),
    ("unassigned", gettext_lazy("Unassigned")),
    ("breaching", gettext_lazy("Breaching soon")),
    ("all", gettext_lazy("All")),
]


def _presence(user) -> AgentPresence:
    presence, _c = AgentPresence.objects.get_or_create(user=user)
    return presence


@staff_required
def inbox(request):
    view = request.GET.get("view", "mine")
    if view not in {v for v, _l in INBOX_VIEWS}:
        view = "mine"
    queue_code = request.GET.get("queue", "")
    q = request.GET.get("q", "")[:100]
    status = request.GET.get("status", "")
    if status not in Status.values:
        status = ""
    qs = selectors.inbox(request.user, view=view, queue_code=queue_code, q=q, status=status)
    page = CappedPaginator(qs, 25).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "view": view,
        "views": INBOX_VIEWS,
        "queues": selectors.queues_for(request.user),
        "queue_code": queue_code,
        "q": q,
        "status": status,
        "statuses": Status.choices,
        "presence": _presence(request.user),
        "presence_states": AgentPresence.State.choices,
    }
    if request.headers.get("HX-Request"):
        return render(request, "helpdesk/console/_inbox_rows.html", context)
    return render(request, "helpdesk/console/inbox.html", context)


@staff_required
@require_POST
def presence(request):
    try:
        services.presence_set(user=request.user, status=request.POST.get("status", ""))
    except OkError as exc:
        messages.error(request, exc.message)
    return redirect(_safe_next(request, request.POST.get("next", ""), reverse("helpdesk:inbox")))


def _safe_next(request, url: str, default: str) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return default


def _timeline(ticket):
    items = [
        ("message", m.created_at, m)
        for m in ticket.messages.select_related("author").prefetch_related("attachments")
    ]
    items += [("event", e.created_at, e) for e in ticket.events.select_related("actor")]
    items.sort(key=lambda item: (item[1], 0 if item[0] == "message" else 1))
    return items


def _ticket_context(request, ticket, *, reply_form=None, update_form=None):
    macros = [
        {
            "id": m.pk,
            "title": m.title,
            "text": services.macro_render(macro=m, ticket=ticket, agent=request.user),
        }
        for m in Macro.objects.filter(active=True).order_by("title")
        if not m.category or m.category == ticket.category
    ]
    c360 = None
    if ticket.customer_id:
        c360 = selectors.customer_360(
            ticket.customer, viewer=request.user, revealed=_revealed(request, ticket.customer)
        )
    agents = [
        u
        for u in get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .select_related("presence")
        .order_by("username")
        if routing.can_work_queue(u, ticket.queue)
    ]
    return {
        "ticket": ticket,
        "timeline": _timeline(ticket),
        "reply_form": reply_form or AgentReplyForm(),
        "update_form": update_form
        or TicketUpdateForm(
            initial={"priority": ticket.priority, "category": ticket.category, "tags": ", ".join(ticket.tags)}
        ),
        "macros": macros,
        "macros_json": json.dumps({str(m["id"]): m["text"] for m in macros}, ensure_ascii=False),
        "c360": c360,
        "reveal_url": reverse("helpdesk:customer_reveal", args=[ticket.customer.public_id])
        if ticket.customer_id
        else "",
        "agents": agents,
        "others": routing.collision_touch(ticket_id=ticket.pk, user=request.user),
        "links": ticket.links.select_related("other"),
        "next_due": selectors_next_due(ticket),
        "statuses": [(s.value, s.label) for s in Status],
        "can_manage_complaint": ticket.category in ("complaint", "suggestion")
        and routing.can_work_queue(request.user, ticket.queue),
    }


def selectors_next_due(ticket):
    from okwallet.helpdesk import sla

    return sla.next_due(ticket)


@staff_required
def ticket_detail(request, number):
    ticket = selectors.access_ticket(request.user, number)
    return render(request, "helpdesk/console/ticket.html", _ticket_context(request, ticket))


@staff_required
def ticket_live(request, number):
    """htmx poll: the timeline and who else is here; ``mode=replying`` while the agent types."""
    ticket = selectors.access_ticket(request.user, number)
    others = routing.collision_touch(
        ticket_id=ticket.pk, user=request.user, mode=request.GET.get("mode", "viewing")
    )
    return render(
        request,
        "helpdesk/console/_live.html",
        {"ticket": ticket, "timeline": _timeline(ticket), "others": others},
    )


@staff_required
@require_POST
def ticket_reply(request, number):
    ticket = selectors.access_ticket(request.user, number)
    form = AgentReplyForm(request.POST)
    if form.is_valid():
        try:
            services.ticket_add_message(
                ticket=ticket,
                body=form.cleaned_data["body"],
                author=request.user,
                public=not form.cleaned_data["internal"],
                set_status=form.cleaned_data["set_status"] or None,
                from_customer=False,
                request=request,
            )
        except OkError as exc:
            messages.error(request, exc.message)
        else:
            routing.collision_leave(ticket_id=ticket.pk, user=request.user)
            messages.info(request, _("Note saved.") if form.cleaned_data["internal"] else _("Reply sent."))
            return redirect("helpdesk:ticket", number=ticket.number)
    ticket.refresh_from_db()
    return render(
        request, "helpdesk/console/ticket.html", _ticket_context(request, ticket, reply_form=form), status=422
    )


def _act(http_request, back, func, ok_message, /, **kwargs):
    """Run one service; its OkError becomes a message on the ticket page (never a 500)."""
    try:
        func(**kwargs)
    except OkError as exc:
        messages.error(http_request, exc.message)
    else:
        messages.info(http_request, ok_message)
    return redirect("helpdesk:ticket", number=back.number)


@staff_required
@require_POST
def ticket_status(request, number):
    ticket = selectors.access_ticket(request.user, number)
    return _act(
        request,
        ticket,
        services.ticket_set_status,
        _("Status changed."),
        ticket=ticket,
        status=request.POST.get("status", ""),
        actor=request.user,
        request=request,
    )


@staff_required
@require_POST
def ticket_assign(request, number):
    ticket = selectors.access_ticket(request.user, number)
    username = request.POST.get("assignee", "")
    assignee = None
    if username == "me":
        assignee = request.user
    elif username:
        assignee = get_user_model().objects.filter(username=username, is_staff=True).first()
        if assignee is None:
            messages.error(request, _("No such agent."))
            return redirect("helpdesk:ticket", number=ticket.number)
    return _act(
        request,
        ticket,
        routing.ticket_assign,
        _("Assignment saved."),
        ticket=ticket,
        assignee=assignee,
        actor=request.user,
        request=request,
        force=bool(request.POST.get("force")),
    )


@staff_required
@require_POST
def ticket_update(request, number):
    ticket = selectors.access_ticket(request.user, number)
    form = TicketUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Some of the information you entered is not valid."))
        return redirect("helpdesk:ticket", number=ticket.number)
    tags = [t for t in form.cleaned_data["tags"].replace("，", ",").split(",")]
    return _act(
        request,
        ticket,
        services.ticket_update,
        _("Ticket updated."),
        ticket=ticket,
        actor=request.user,
        priority=form.cleaned_data["priority"],
        category=form.cleaned_data["category"],
        tags=tags,
        request=request,
    )


@staff_required
@require_POST
def ticket_link(request, number):
    ticket = selectors.access_ticket(request.user, number)
    target = request.POST.get("target", "").strip()
    if selectors.NUMBER_RE.match(target.upper()):
        other = selectors.access_ticket(request.user, target)
        if request.POST.get("merge"):
            return _act(
                request,
                ticket,
                services.ticket_merge,
                _("Tickets merged."),
                source=other,
                target=ticket,
                actor=request.user,
                request=request,
            )
        return _act(
            request,
            ticket,
            services.ticket_link,
            _("Linked."),
            ticket=ticket,
            actor=request.user,
            other=other,
        )
    return _act(
        request,
        ticket,
        services.ticket_link,
        _("Linked."),
        ticket=ticket,
        actor=request.user,
        reference=target,
    )


@staff_required
@require_POST
def complaint_extend(request, number):
    ticket = selectors.access_ticket(request.user, number)
    return _act(
        request,
        ticket,
        complaints.complaint_extend,
        _("Deadline extended; the customer was told."),
        ticket=ticket,
        actor=request.user,
        reason=request.POST.get("reason", ""),
        request=request,
    )


@staff_required
@require_POST
def complaint_outcome(request, number):
    ticket = selectors.access_ticket(request.user, number)
    return _act(
        request,
        ticket,
        complaints.complaint_record_outcome,
        _("Outcome recorded and sent."),
        ticket=ticket,
        actor=request.user,
        outcome=request.POST.get("outcome", ""),
        request=request,
    )


# --- customers ------------------------------------------------------------------------------


def _reveal_key(user) -> str:
    return f"hd_reveal_{user.pk}"


def _revealed(request, customer) -> bool:
    import time

    return float(request.session.get(_reveal_key(customer), 0)) > time.time()


def _customer(public_id):
    user = get_user_model().objects.filter(public_id=public_id, is_staff=False).first()
    if user is None:
        raise NotFound("customer_not_found", _("No such customer."))
    return user


@staff_required
def customers(request):
    q = request.GET.get("q", "")[:100]
    results = selectors.customer_search(q) if q else []
    if q and len(results) == 1:
        return redirect("helpdesk:customer", public_id=results[0].public_id)
    rows = [
        {"user": u, "phone": selectors.mask_phone(u.phone or ""), "name": selectors.mask_name(u.display_name)}
        for u in results
    ]
    return render(request, "helpdesk/console/customers.html", {"q": q, "rows": rows})


@staff_required
def customer_detail(request, public_id):
    user = _customer(public_id)
    c360 = selectors.customer_360(user, viewer=request.user, revealed=_revealed(request, user))
    return render(
        request,
        "helpdesk/console/customer.html",
        {"c360": c360, "reveal_url": reverse("helpdesk:customer_reveal", args=[user.public_id])},
    )


@staff_required
@require_POST
def customer_reveal(request, public_id):
    import time

    user = _customer(public_id)
    request.session[_reveal_key(user)] = time.time() + REVEAL_SECONDS
    audit_log_write(
        actor=request.user,
        action="customer.pii_revealed",
        obj=user,
        request=request,
        details={"fields": ["phone", "email", "name", "id_last4"], "seconds": REVEAL_SECONDS},
    )
    back = request.POST.get("next") or reverse("helpdesk:customer", args=[user.public_id])
    return redirect(_safe_next(request, back, reverse("helpdesk:customer", args=[user.public_id])))


# --- dashboard ------------------------------------------------------------------------------


@staff_required
def dashboard(request):
    if not selectors.can_see_dashboard(request.user):
        raise PermissionDenied()
    try:
        days = max(1, min(90, int(request.GET.get("days", 30))))
    except ValueError:
        days = 30
    stats = selectors.dashboard_stats(days=days)
    panels = collect_flat("dashboard_panels", request.user)
    # The hours app warns about a missing holiday calendar on every page (site_notices) and panel.
    warnings: list[str] = []
    return render(
        request,
        "helpdesk/console/dashboard.html",
        {
            "stats": stats,
            "hours": range(24),
            "panels": panels,
            "days": days,
            "quiet": selectors.quiet_hours(),
            "warnings": warnings,
            "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
        },
    )


def attachment_download(request, pk):
    """Attachments: the ticket's customer or staff who may see the ticket."""
    from django.http import FileResponse

    from okwallet.helpdesk.models import Attachment

    att = Attachment.objects.select_related("ticket").filter(pk=pk).first()
    if att is None:
        raise NotFound()
    selectors.access_ticket(request.user, att.ticket.number)
    if not request.user.is_staff:
        message = att.message
        if message is not None and not message.public:
            raise NotFound()
    response = FileResponse(
        att.file.open("rb"), as_attachment=True, filename=att.filename, content_type=att.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
