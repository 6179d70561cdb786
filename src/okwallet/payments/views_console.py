"""Agent console pages for money: a transaction with its reversals, and reconciliation.

Thin: parse the form, call one service, redirect with a message. Who may do what is decided in
the services (``reversals.can_reverse`` / ``can_approve``); every action is audited there.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from okwallet.accounts.masking import mask_name
from okwallet.console.access import staff_required
from okwallet.core.errors import NotFound, OkError
from okwallet.core.money import format_fen, parse_yuan
from okwallet.core.paging import CappedPaginator
from okwallet.payments import reconciliation, reversals, selectors
from okwallet.payments.models import ReconciliationMismatch, Reversal, Transaction


def _masked_customer(user) -> dict:
    from okwallet.accounts.selectors import realname_for

    if user is None:
        return {}
    realname = realname_for(user)
    phone = user.phone or ""
    return {
        "user": user,
        "name": realname.masked_name if realname else mask_name(user.display_name or ""),
        "phone": (phone[-11:-8] + "****" + phone[-4:]) if len(phone) >= 11 else "****",
    }


def _transaction(reference: str) -> Transaction:
    txn = selectors.transaction_for_console(reference)
    if txn is None:
        raise NotFound("transaction_not_found", _("No such transaction."))
    return txn


@staff_required
def transaction_detail(request, reference: str):
    txn = _transaction(reference)
    root = reversals.reversal_root(txn)
    rows = list(
        Reversal.objects.filter(original=root).select_related(
            "requested_by", "decided_by", "debit_txn", "credit_txn"
        )
    )
    left = reversals.reversible_fen(txn)
    return render(
        request,
        "payments/console/transaction.html",
        {
            "t": txn,
            "root": root,
            "customer": _masked_customer(txn.user),
            "counterparty": _masked_customer(txn.counterparty) if txn.counterparty_id else {},
            "events": list(txn.events.all()),
            "compensations": list(txn.compensations.all()),
            "reversals": rows,
            "left_fen": left,
            "left_yuan": format_fen(left, symbol="").replace(",", ""),
            "can_reverse": reversals.can_reverse(request.user) and left > 0,
            "may_reverse": reversals.can_reverse(request.user),
            "can_approve": reversals.can_approve(request.user),
            "threshold_fen": reversals.approval_threshold_fen(),
            "reasons": Reversal.Reason.choices,
            "default_reason": "chargeback" if root.kind == Transaction.Kind.DEPOSIT else "mistaken_transfer",
            "form_key": uuid.uuid4().hex,
        },
    )


@staff_required
@require_POST
def transaction_reverse(request, reference: str):
    txn = _transaction(reference)
    try:
        rev = reversals.reversal_request(
            reference=txn.reference,
            amount_fen=parse_yuan(request.POST.get("amount", "")),
            reason_code=request.POST.get("reason_code", ""),
            reason=request.POST.get("reason", ""),
            key=request.POST.get("form_key", "")[:64],
            actor=request.user,
            request=request,
        )
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        if rev.status == Reversal.Status.PENDING_APPROVAL:
            messages.info(
                request,
                _("Reversal %(ref)s of %(amount)s is waiting for a supervisor's approval.")
                % {"ref": rev.reference, "amount": format_fen(rev.amount_fen)},
            )
        else:
            messages.success(
                request,
                _("Reversal %(ref)s: %(amount)s moved back. The customers were notified.")
                % {"ref": rev.reference, "amount": format_fen(rev.amount_fen)},
            )
    return redirect("payments:console_transaction", reference=txn.reference)


@staff_required
@require_POST
def reversal_approve(request, reference: str):
    rev = reversals.access_reversal(reference)
    try:
        rev = reversals.reversal_approve(
            reference=rev.reference, actor=request.user, note=request.POST.get("note", ""), request=request
        )
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("Reversal %(ref)s approved: %(amount)s moved back.")
            % {"ref": rev.reference, "amount": format_fen(rev.amount_fen)},
        )
    return redirect("payments:console_transaction", reference=rev.original.reference)


@staff_required
@require_POST
def reversal_reject(request, reference: str):
    rev = reversals.access_reversal(reference)
    try:
        reversals.reversal_reject(
            reference=rev.reference, actor=request.user, note=request.POST.get("note", ""), request=request
        )
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.info(request, _("Reversal %(ref)s rejected.") % {"ref": rev.reference})
    return redirect("payments:console_transaction", reference=rev.original.reference)


# --- reconciliation -----------------------------------------------------------------------------


def _date(value):
    try:
        return parse_date(value or "")
    except ValueError:
        return None


STATUSES = [
    ("open", ReconciliationMismatch.Status.OPEN.label),
    ("resolved", ReconciliationMismatch.Status.RESOLVED.label),
]


@staff_required
def reconciliation_page(request):
    status = request.GET.get("status", "open")
    if status not in ("open", "resolved", "all"):
        status = "open"
    kind = request.GET.get("kind", "")
    if kind not in ReconciliationMismatch.Kind.values:
        kind = ""
    run_id = request.GET.get("run", "")
    run_id = int(run_id) if run_id.isdigit() and len(run_id) < 18 else None
    f = {
        "status": status,
        "kind": kind,
        "date_from": _date(request.GET.get("from")),
        "date_to": _date(request.GET.get("to")),
        "q": (request.GET.get("q", "") or "")[:64].strip(),
        "run_id": run_id,
    }
    page = CappedPaginator(selectors.mismatches_query(**f), 25).get_page(request.GET.get("page"))
    runs = Paginator(selectors.reconciliation_runs(), 10).get_page(request.GET.get("runs_page"))
    return render(
        request,
        "payments/console/reconciliation.html",
        {
            "page": page,
            "runs": runs,
            "f": f,
            "statuses": [*STATUSES, ("all", _("All"))],
            "kinds": ReconciliationMismatch.Kind.choices,
            "counts": selectors.mismatch_counts(),
            "waiting": list(selectors.reversals_waiting()[:20]),
            "can_approve": reversals.can_approve(request.user),
        },
    )


def _mismatch(pk: int) -> ReconciliationMismatch:
    item = (
        ReconciliationMismatch.objects.select_related(
            "run", "transaction", "transaction__user", "resolved_by"
        )
        .filter(pk=pk)
        .first()
    )
    if item is None:
        raise NotFound("mismatch_not_found", _("No such reconciliation item."))
    return item


@staff_required
def mismatch_detail(request, pk: int):
    item = _mismatch(pk)
    txn = item.transaction
    settleable = item.status == ReconciliationMismatch.Status.OPEN and reconciliation.is_settleable(item)
    return render(
        request,
        "payments/console/mismatch.html",
        {
            "item": item,
            "txn": txn,
            "customer": _masked_customer(txn.user) if txn is not None else {},
            "settleable": settleable,
        },
    )


@staff_required
@require_POST
def mismatch_settle(request, pk: int):
    item = _mismatch(pk)
    try:
        reconciliation.mismatch_settle(
            mismatch_id=item.pk, actor=request.user, note=request.POST.get("note", ""), request=request
        )
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Settled from the channel's statement; the item is resolved."))
    return redirect("payments:console_mismatch", pk=item.pk)


@staff_required
@require_POST
def mismatch_channel_error(request, pk: int):
    item = _mismatch(pk)
    try:
        reconciliation.mismatch_mark_channel_error(
            mismatch_id=item.pk, actor=request.user, note=request.POST.get("note", ""), request=request
        )
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Marked as the channel's error; the item is resolved."))
    return redirect("payments:console_mismatch", pk=item.pk)


@staff_required
@require_POST
def mismatch_resolve(request, pk: int):
    item = _mismatch(pk)
    try:
        reconciliation.mismatch_resolve(
            mismatch_id=item.pk, actor=request.user, note=request.POST.get("note", ""), request=request
        )
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The item is resolved."))
    return redirect("payments:console_mismatch", pk=item.pk)


@staff_required
@require_POST
def mismatch_ticket(request, pk: int):
    item = _mismatch(pk)
    try:
        number = reconciliation.mismatch_ticket_open(mismatch_id=item.pk, actor=request.user, request=request)
    except OkError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Ticket %(number)s is open for this item.") % {"number": number})
    return redirect("payments:console_mismatch", pk=item.pk)
