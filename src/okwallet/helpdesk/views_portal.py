"""Customer pages under /support/: my requests, new request, 投诉与建议, thread + reply, CSAT."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from okwallet.core import ratelimit
from okwallet.core.errors import NotFound, OkError
from okwallet.helpdesk import complaints, errors, selectors, services
from okwallet.helpdesk.forms import ComplaintForm, CsatForm, CustomerReplyForm, TicketForm

CREATE_LIMIT = 10  # new requests per customer per hour


def _customer_only(request):
    if request.user.is_staff:
        messages.info(request, _("Staff use the agent console for tickets."))
        return redirect("helpdesk:inbox")
    return None


@login_required
def my_tickets(request):
    if (r := _customer_only(request)) is not None:
        return r
    page = Paginator(selectors.customer_tickets(request.user), 20).get_page(request.GET.get("page"))
    return render(request, "helpdesk/portal/list.html", {"page": page})


@login_required
def ticket_new(request):
    if (r := _customer_only(request)) is not None:
        return r
    form = TicketForm(
        request.POST or None, request.FILES or None, initial={"category": request.GET.get("category", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            ratelimit.enforce(f"hd:create:{request.user.pk}", limit=CREATE_LIMIT, window_seconds=3600)
            ticket = services.ticket_create(
                channel="web",
                category=form.cleaned_data["category"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                customer=request.user,
                facts={"reference": form.cleaned_data["reference"]} if form.cleaned_data["reference"] else {},
                attachments=form.cleaned_data["attachments"],
            )
        except OkError as exc:
            form.add_error(None, exc.message)
        else:
            messages.info(request, _("Thank you. Your request number is %(n)s.") % {"n": ticket.number})
            return redirect("helpdesk:portal_ticket", number=ticket.number)
    return render(request, "helpdesk/portal/new.html", {"form": form}, status=422 if form.errors else 200)


@login_required
def complaint_new(request):
    if (r := _customer_only(request)) is not None:
        return r
    form = ComplaintForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            ratelimit.enforce(f"hd:create:{request.user.pk}", limit=CREATE_LIMIT, window_seconds=3600)
            ticket = complaints.complaint_file(
                customer=request.user,
                kind=form.cleaned_data["kind"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                reference=form.cleaned_data["reference"],
                contact_phone=form.cleaned_data["contact_phone"],
                attachments=form.cleaned_data["attachments"],
            )
        except OkError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("helpdesk:portal_ticket", number=ticket.number)
    return render(
        request, "helpdesk/portal/complaint.html", {"form": form}, status=422 if form.errors else 200
    )


@login_required
def ticket_detail(request, number):
    if (r := _customer_only(request)) is not None:
        return r
    ticket = selectors.access_ticket(request.user, number)
    form = CustomerReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            ratelimit.enforce(f"hd:reply:{request.user.pk}", limit=60, window_seconds=3600)
            services.ticket_add_message(
                ticket=ticket,
                body=form.cleaned_data["body"],
                author=request.user,
                channel="web",
                attachments=form.cleaned_data["attachments"],
                from_customer=True,
            )
        except OkError as exc:
            form.add_error(None, exc.message)
        else:
            messages.info(request, _("Your reply was sent."))
            return redirect("helpdesk:portal_ticket", number=ticket.number)
    thread = ticket.messages.filter(public=True).select_related("author").prefetch_related("attachments")
    return render(
        request,
        "helpdesk/portal/ticket.html",
        {
            "ticket": ticket,
            "thread": thread,
            "form": form,
            "csat_url": selectors.csat_url(ticket) if ticket.status in ("solved", "closed") else "",
            "rated": hasattr(ticket, "csat"),
        },
        status=422 if form.errors else 200,
    )


def csat(request, token):
    """Signed link from the 'how did we do' message; works without signing in."""
    ticket = selectors.csat_ticket(token)
    if ticket is None:
        raise errors.CsatInvalid()
    if (
        request.user.is_authenticated
        and not request.user.is_staff
        and ticket.customer_id not in (None, request.user.pk)
    ):
        raise NotFound()
    form = CsatForm(request.POST or None)
    done = False
    if request.method == "POST" and form.is_valid():
        try:
            services.csat_submit(
                ticket=ticket, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"]
            )
        except OkError as exc:
            form.add_error(None, exc.message)
        else:
            done = True
    return render(request, "helpdesk/portal/csat.html", {"ticket": ticket, "form": form, "done": done})
