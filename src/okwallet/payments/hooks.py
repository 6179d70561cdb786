"""Hooks payments implements (docs/interfaces.md)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext as _


def closure_blockers(user) -> list[dict]:
    from okwallet.payments.models import ReconciliationMismatch, Transaction
    from okwallet.payments.selectors import wallet_summary

    found = []
    summary = wallet_summary(user)
    if summary["available_fen"] > 0:
        found.append(
            {
                "code": "wallet_balance",
                "message": _("Your wallet still has a balance. Withdraw it to your bank card first."),
            }
        )
    if (
        summary["pending_out_fen"] > 0
        or Transaction.objects.filter(user_id=user.pk, status=Transaction.Status.PENDING).exists()
    ):
        found.append(
            {
                "code": "payments_pending",
                "message": _("A payment is still being processed. Wait until it has finished."),
            }
        )
    from django.db.models import Q

    from okwallet.payments.models import Reversal

    if Reversal.objects.filter(
        Q(original__user_id=user.pk) | Q(original__counterparty_id=user.pk),
        status=Reversal.Status.PENDING_APPROVAL,
    ).exists():
        found.append(
            {
                "code": "reversal_pending",
                "message": _("A correction of one of your payments is waiting for approval."),
            }
        )
    if ReconciliationMismatch.objects.filter(
        transaction__user_id=user.pk, status=ReconciliationMismatch.Status.OPEN
    ).exists():
        found.append(
            {
                "code": "reconciliation_open",
                "message": _("We are still checking one of your payments with the bank."),
            }
        )
    return found


def on_account_closed(user) -> None:
    from okwallet.payments.services import wallet_close

    wallet_close(user=user)


def site_notices(request) -> list[dict]:
    from okwallet.payments.selectors import deposits_slow_now

    try:
        slow = deposits_slow_now()
    except Exception:  # a notice must never break a page
        return []
    if slow["slow"]:
        return [
            {
                "level": "warning",
                "text": _(
                    "Top-ups are slower than usual right now. Your money is safe and will arrive; no need to pay twice."
                ),
            }
        ]
    return []


def portal_home_panels(request) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(user, "is_customer", False):
        return []
    from okwallet.payments.selectors import transactions_for, wallet_summary

    html = render_to_string(
        "payments/_home_panel.html",
        {"summary": wallet_summary(user), "recent": transactions_for(user, limit=3)},
        request=request,
    )
    return [{"title": _("My wallet"), "html": html}]


def payment_outgoing_fen(user, *, since=None) -> int:
    """Money that left (or is leaving) the wallet since ``since``, for the payment-class page."""
    from okwallet.payments.services import outgoing_total_fen

    return outgoing_total_fen(user, since=since)


def realname_source_actions(user) -> list[dict]:
    """How a customer adds the ``bank_card`` verification source: by binding a card here."""
    from django.urls import reverse

    return [
        {
            "source": "bank_card",
            "label": _("Bind a debit card in your name"),
            "url": reverse("payments:cards"),
            "api": "POST /api/v1/wallet/cards",
        }
    ]
