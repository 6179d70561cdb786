"""Portal pages for the wallet and the channel notification endpoint. Thin: parse, call, render."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from okwallet.core.errors import OkError
from okwallet.core.money import format_fen, parse_yuan
from okwallet.core.timeutil import to_local
from okwallet.payments import selectors, services
from okwallet.payments.models import Transaction
from okwallet.payments.self_check import deposit_self_check


@csrf_exempt
@require_POST
def channel_notify(request, channel: str):
    """Where the channel posts its asynchronous notifications. Raw body stored before anything else."""
    status, body = services.channel_notification_receive(
        channel=channel,
        headers=dict(request.headers),
        body=request.body,
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    return HttpResponse(body, status=status, content_type="application/json")


def _filters(request) -> dict:
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    return {
        "kind": kind if kind in Transaction.Kind.values else "",
        "status": status if status in Transaction.Status.values else "",
        "date_from": parse_date(request.GET.get("from", "") or "")
        if _valid_date(request.GET.get("from"))
        else None,
        "date_to": parse_date(request.GET.get("to", "") or "")
        if _valid_date(request.GET.get("to"))
        else None,
        "q": (request.GET.get("q", "") or "")[:40],
    }


def _valid_date(value) -> bool:
    try:
        return bool(value) and parse_date(value) is not None
    except ValueError:
        return False


@login_required
def wallet_home(request):
    services.wallet_ensure(user=request.user)
    return render(
        request,
        "payments/wallet.html",
        {
            "summary": selectors.wallet_summary(request.user),
            "recent": selectors.transactions_for(request.user, limit=5),
            "cards": selectors.cards_for(request.user),
            "slow": selectors.deposits_slow_now(),
        },
    )


@login_required
def records(request):
    f = _filters(request)
    page = Paginator(selectors.transactions_query(request.user, **f), 20).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "payments/records.html",
        {
            "page": page,
            "f": f,
            "query": query.urlencode(),
            "kinds": Transaction.Kind.choices,
            "statuses": Transaction.Status.choices,
        },
    )


@login_required
def records_csv(request):
    services.rate_limit("csv", request.user, limit=10, window_seconds=60)
    rows = selectors.transactions_query(request.user, **_filters(request)).iterator()

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def stream():
        yield "\ufeff"  # Excel opens UTF-8 Chinese correctly with a BOM
        yield writer.writerow(
            [
                _("Reference"),
                _("Time"),
                _("Type"),
                _("Status"),
                _("Amount (CNY)"),
                _("Method"),
                _("Channel reference"),
            ]
        )
        for t in rows:
            sign = "-" if t.is_outgoing else ""
            yield writer.writerow(
                [
                    t.reference,
                    to_local(t.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                    t.get_kind_display(),
                    t.get_status_display(),
                    sign + format_fen(t.amount_fen, symbol=""),
                    t.get_method_display(),
                    t.channel_ref,
                ]
            )

    response = StreamingHttpResponse(streamed_for(request, stream()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="okwallet-transactions.csv"'
    return response


def streamed_for(request, lines, *, chunk: int = 500):
    """``lines`` as the server can stream them. Under ASGI Django would read a sync iterator to
    the end before sending anything (a whole export in memory, with a warning); there the
    iterator is advanced ``chunk`` lines at a time in the thread that opened its cursor."""
    from django.core.handlers.asgi import ASGIRequest

    if not isinstance(request, ASGIRequest):
        return lines
    from itertools import islice

    from asgiref.sync import sync_to_async

    take = sync_to_async(lambda: "".join(islice(lines, chunk)), thread_sensitive=True)

    async def parts():
        while part := await take():
            yield part

    return parts()


@login_required
def record_detail(request, reference: str):
    txn = selectors.access_transaction(request.user, reference)
    return render(
        request,
        "payments/detail.html",
        {
            "t": txn,
            "events": list(txn.events.all()),
            "compensations": list(txn.compensations.all()),
            "reason": selectors.correction_reason(txn),
        },
    )


def _amount(request) -> int:
    return parse_yuan(request.POST.get("amount", ""))


@login_required
@require_http_methods(["GET", "POST"])
def deposit(request):
    cards = selectors.cards_for(request.user)
    if request.method == "POST":
        try:
            services.rate_limit("deposit", request.user, limit=10, window_seconds=60)
            card_id = request.POST.get("card") or None
            txn = services.deposit_create(
                user=request.user,
                amount_fen=_amount(request),
                method=request.POST.get("method", "card"),
                card_id=int(card_id) if card_id and card_id.isdigit() else None,
                return_url=request.build_absolute_uri("/wallet/records/") + "{reference}/",
            )
        except OkError as exc:
            messages.error(request, str(exc.message))
        else:
            if txn.pay_url:
                return redirect(txn.pay_url)
            return redirect("payments:detail", reference=txn.reference)
    response = render(
        request,
        "payments/deposit.html",
        {
            "cards": cards,
            "methods": [("card", _("Bank card")), ("alipay", _("Alipay")), ("wechat", _("WeChat Pay"))],
        },
    )
    return _allow_form_to_channel(request, response)


def _to_step_up(purpose: str, back: str):
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse("accounts:step_up")
    except NoReverseMatch:  # pragma: no cover
        return redirect(back)
    return redirect(f"{url}?{urlencode({'purpose': purpose, 'next': reverse(back)})}")


def _allow_form_to_channel(request, response):
    """The deposit form redirects to the channel's cashier page: CSP ``form-action`` must allow its
    origin (browsers apply form-action to the redirect after a form POST)."""
    from urllib.parse import urlparse

    from okwallet.core.middleware import ContentSecurityPolicyMiddleware
    from okwallet.payments.channels.sandbox import sandbox_url

    origin = "{0.scheme}://{0.netloc}".format(urlparse(sandbox_url()))
    policy = ContentSecurityPolicyMiddleware.POLICY.format(nonce=getattr(request, "csp_nonce", ""))
    response["Content-Security-Policy"] = policy.replace("form-action 'self'", f"form-action 'self' {origin}")
    return response


@login_required
@require_http_methods(["GET", "POST"])
def withdraw(request):
    cards = selectors.cards_for(request.user)
    if request.method == "POST":
        try:
            services.rate_limit("withdraw", request.user, limit=5, window_seconds=60)
            card_id = request.POST.get("card", "")
            if not services.step_up_passed(request, "withdrawal"):
                return _to_step_up("withdrawal", "payments:withdraw")
            services.step_up_require(request, "withdrawal")
            txn = services.withdrawal_create(
                user=request.user,
                amount_fen=_amount(request),
                card_id=int(card_id) if card_id.isdigit() else 0,
            )
        except OkError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.info(request, _("Withdrawal submitted. We will tell you when the bank has paid it out."))
            return redirect("payments:detail", reference=txn.reference)
    return render(
        request, "payments/withdraw.html", {"cards": cards, "summary": selectors.wallet_summary(request.user)}
    )


@login_required
@require_http_methods(["GET", "POST"])
def transfer(request):
    ctx = {"summary": selectors.wallet_summary(request.user)}
    if request.method == "POST":
        step = request.POST.get("step", "lookup")
        try:
            services.rate_limit("transfer", request.user, limit=20, window_seconds=60)
            amount = _amount(request)
            if step == "lookup":
                preview = services.payee_lookup(payer=request.user, phone=request.POST.get("phone", ""))
                request.session["payments_payee"] = preview.user_id
                ctx.update(
                    {
                        "preview": preview,
                        "amount": amount,
                        "amount_text": request.POST.get("amount", ""),
                        "note": request.POST.get("note", "")[:100],
                    }
                )
                return render(request, "payments/transfer_confirm.html", ctx)
            payee_id = request.session.get("payments_payee")
            if not payee_id:
                raise OkError("payee_not_confirmed", _("Please look up and confirm the payee again."))
            if services.is_new_payee(payer=request.user, payee_id=payee_id):
                if not services.step_up_passed(request, "new_payee"):
                    messages.info(
                        request, _("First transfer to this person: confirm it's you, then send again.")
                    )
                    return _to_step_up("new_payee", "payments:transfer")
                services.step_up_require(request, "new_payee")
            request.session.pop("payments_payee", None)
            txn = services.p2p_transfer_create(
                payer=request.user, payee_id=payee_id, amount_fen=amount, note=request.POST.get("note", "")
            )
        except OkError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.info(request, _("Sent."))
            return redirect("payments:detail", reference=txn.reference)
    return render(request, "payments/transfer.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def cards(request):
    if request.method == "POST":
        try:
            services.rate_limit("card", request.user, limit=5, window_seconds=300)
            if request.POST.get("unbind"):
                services.card_unbind(user=request.user, card_id=int(request.POST["unbind"]))
                messages.info(request, _("Card unbound."))
            else:
                card = services.card_bind(
                    user=request.user,
                    number=request.POST.get("number", ""),
                    holder_name=request.POST.get("holder_name", ""),
                    id_number=request.POST.get("id_number", ""),
                    reserved_phone=request.POST.get("reserved_phone", ""),
                    request=request,
                )
                messages.info(request, _("Card %(card)s bound.") % {"card": card.masked})
        except (OkError, ValueError) as exc:
            messages.error(request, str(getattr(exc, "message", _("Please check the form."))))
        return redirect("payments:cards")
    try:
        services.cards_assert_changeable(user=request.user)
        blocked = None
    except OkError as exc:
        blocked = {"code": exc.code, "message": exc.message}
    phone = request.user.phone or ""
    return render(
        request,
        "payments/cards.html",
        {
            "cards": selectors.cards_for(request.user),
            "blocked": blocked,
            "account_phone": phone[3:] if phone.startswith("+86") else phone,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def self_check(request):
    result = None
    reference = request.POST.get("reference") or request.GET.get("reference") or None
    if request.method == "POST":
        services.rate_limit("selfcheck", request.user, limit=10, window_seconds=300)
        result = deposit_self_check(user=request.user, reference=reference)
    return render(request, "payments/self_check.html", {"result": result, "reference": reference or ""})
