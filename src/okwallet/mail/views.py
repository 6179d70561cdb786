"""Console pages: inbound mail that needs an agent, and the outbox."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from okwallet.console.access import staff_required
from okwallet.core.audit import audit_log_write
from okwallet.core.paging import CappedPaginator
from okwallet.mail import selectors
from okwallet.mail.ingest import mail_message_refile
from okwallet.mail.models import OutboundMessage, RawMessage
from okwallet.mail.outbound import outbound_retry


def ticket_url(number: str) -> str:
    if not number:
        return ""
    try:
        return reverse("helpdesk:ticket", args=[number])
    except NoReverseMatch:
        return ""


def _statuses(choices) -> list[tuple[str, str]]:
    return [("attention", _("Needs attention")), ("all", _("All")), *choices]


@staff_required
def inbound_list(request):
    status = request.GET.get("status", "attention")
    q = request.GET.get("q", "")
    page = CappedPaginator(selectors.inbound_messages(status=status, q=q), 25).get_page(
        request.GET.get("page")
    )
    for row in page.object_list:
        row.ticket_link = ticket_url(row.ticket_number)
    return render(
        request,
        "mail/inbound_list.html",
        {
            "page": page,
            "status": status,
            "q": q,
            "statuses": _statuses(RawMessage.Status.choices),
            "counts": selectors.attention_counts(),
        },
    )


@staff_required
def inbound_detail(request, pk: int):
    row = get_object_or_404(RawMessage.objects.defer("raw"), pk=pk)
    return render(
        request,
        "mail/inbound_detail.html",
        {
            "row": row,
            "ticket_link": ticket_url(row.ticket_number),
            "attachments": row.attachments.defer("content").order_by("pk"),
            "can_refile": row.status != RawMessage.Status.PROCESSED,
        },
    )


@staff_required
def inbound_raw(request, pk: int):
    """The message exactly as it arrived, as a download (never rendered in the browser)."""
    row = get_object_or_404(RawMessage, pk=pk)
    audit_log_write(actor=request.user, action="mail.raw_downloaded", obj=row, request=request)
    response = HttpResponse(bytes(row.raw), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="message-{row.pk}.eml"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_required
@require_POST
def inbound_refile(request, pk: int):
    row = get_object_or_404(RawMessage.objects.defer("raw"), pk=pk)
    row = mail_message_refile(raw_message=row, actor=request.user, request=request)
    if row.ticket_number:
        messages.success(request, _("Filed as ticket %(number)s.") % {"number": row.ticket_number})
    else:
        messages.error(
            request, _("The message could not be filed: %(reason)s") % {"reason": row.status_reason}
        )
    return redirect("mail:inbound_detail", pk=row.pk)


@staff_required
def outbox_list(request):
    status = request.GET.get("status", "attention")
    q = request.GET.get("q", "")
    page = CappedPaginator(selectors.outbound_messages(status=status, q=q), 25).get_page(
        request.GET.get("page")
    )
    for row in page.object_list:
        row.ticket_link = ticket_url(row.ticket_number)
    return render(
        request,
        "mail/outbox_list.html",
        {
            "page": page,
            "status": status,
            "q": q,
            "statuses": _statuses(OutboundMessage.Status.choices),
            "counts": selectors.attention_counts(),
        },
    )


@staff_required
@require_POST
def outbox_retry(request, pk: int):
    row = get_object_or_404(OutboundMessage, pk=pk)
    outbound_retry(outbound=row, actor=request.user, request=request)
    messages.success(request, _("The email to %(to)s is queued again.") % {"to": row.to_addr})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("mail:outbox")
    return redirect(target)
