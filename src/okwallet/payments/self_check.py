"""The deposit self-check behind "my top-up has not arrived" (help centre, chat, tickets, API):
everything we and the channel know about the customer's deposit, credited if it was paid
(idempotent with the callback, through the active query), otherwise what to tell them and what
a ticket needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import OkError
from okwallet.core.timeutil import to_local
from okwallet.payments import cards as cardlib
from okwallet.payments.channels import ChannelError
from okwallet.payments.models import Transaction, TransactionEvent
from okwallet.payments.services import (
    PER_TRANSACTION_LIMIT_FEN,
    _assert_can_move_money,
    _query_and_settle,
    _realname,
)


@dataclass
class SelfCheck:
    solved: bool = False
    findings: list[dict] = field(default_factory=list)
    advice: str = ""
    ticket_facts: dict = field(default_factory=dict)
    transaction: Transaction | None = None

    def add(self, code: str, message) -> None:
        self.findings.append({"code": code, "message": str(message)})


def deposit_self_check(*, user, reference: str | None = None, reported: dict | None = None) -> SelfCheck:
    """ "My deposit has not arrived": look at everything we and the channel know, credit it if it was
    paid (idempotent with the callback), else say what to tell the customer and what a ticket needs.

    ``reported`` may carry what the customer says they used: ``holder_name``, ``card_number``,
    ``amount_fen``, ``channel_error``."""
    from okwallet.payments.selectors import deposits_slow_now

    check = SelfCheck()
    reported = reported or {}
    try:
        _assert_can_move_money(user, outgoing=False)
    except OkError as exc:
        check.add(exc.code, exc.message)
    realname = _realname(user)
    if (
        reported.get("holder_name")
        and realname is not None
        and " ".join(str(reported["holder_name"]).split()) != realname.name
    ):
        check.add(
            "holder_name_mismatch",
            _(
                "The payer's name differs from your verified real name; payments from someone else's card are returned by the bank."
            ),
        )
    if reported.get("card_number"):
        number = str(reported["card_number"])
        if not cardlib.luhn_ok(number):
            check.add("card_number_invalid", _("The card number fails the check digit; please check it."))
        elif cardlib.bank_for(number) is None:
            check.add("bank_not_supported", _("Cards of this bank are not supported yet."))
    amount = reported.get("amount_fen")
    if isinstance(amount, int) and amount > PER_TRANSACTION_LIMIT_FEN:
        check.add("amount_over_limit", _("The amount is over the per-transaction limit."))
    if reported.get("channel_error"):
        check.add(
            "channel_error",
            _("The payment channel reported error %(code)s.") % {"code": str(reported["channel_error"])[:40]},
        )

    qs = Transaction.objects.filter(user_id=user.pk, kind=Transaction.Kind.DEPOSIT)
    txn = (
        qs.filter(reference=reference).first()
        if reference
        else (qs.filter(status=Transaction.Status.PENDING).first() or qs.first())
    )
    check.transaction = txn
    if txn is None:
        check.add("no_deposit_found", _("We found no top-up with this reference on your account."))
    else:
        check.ticket_facts = {
            "time": to_local(txn.created_at).isoformat(timespec="minutes"),
            "amount_fen": txn.amount_fen,
            "method": txn.method,
            "reference": txn.reference,
            "channel_ref": txn.channel_ref,
            "status": txn.status,
        }
        if txn.status == Transaction.Status.REVERSED:
            check.solved = True
            check.add(
                "deposit_reversed",
                _(
                    "This top-up was credited and later reversed because the bank or channel returned the payment; see its timeline."
                ),
            )
        elif txn.status == Transaction.Status.SUCCEEDED:
            check.solved = True
            check.add(
                "already_credited",
                _("This top-up was credited on %(when)s.")
                % {"when": to_local(txn.settled_at).strftime("%Y-%m-%d %H:%M")},
            )
        elif txn.status == Transaction.Status.PENDING:
            try:
                outcome = _query_and_settle(txn, source="self-check")
            except (ChannelError, OkError):
                outcome = "unreachable"
                check.add("channel_unreachable", _("We could not reach the payment channel just now."))
            TransactionEvent.objects.create(
                transaction=txn, step=TransactionEvent.Step.QUERIED, note=f"self-check: {outcome}"
            )
            if outcome in ("settled", "unchanged"):
                check.solved = True
                check.add(
                    "credited_now",
                    _("The channel confirmed the payment and we have credited your wallet just now."),
                )
            elif outcome == "failed":
                check.add(
                    "channel_failed",
                    _("The channel reports the payment did not go through; no money was taken."),
                )
            else:
                check.add("not_paid_at_channel", _("The channel has not received the payment yet."))
        else:
            check.add(
                "deposit_failed",
                _("This top-up failed (%(code)s); no money was taken.") % {"code": txn.failure_code or "-"},
            )
        if txn.failure_code and txn.status != Transaction.Status.SUCCEEDED:
            check.add(
                "channel_error",
                _("The payment channel reported error %(code)s.") % {"code": txn.failure_code},
            )
    if not check.solved:
        slow = deposits_slow_now()
        if slow["slow"]:
            check.add("peak_delay", _("Top-ups are slower than usual right now; most arrive within an hour."))
    check.advice = str(_advice(check))
    return check


def _advice(check: SelfCheck):
    codes = {f["code"] for f in check.findings}
    if check.solved:
        return _("Your money is in your wallet. Nothing more to do.")
    if codes & {"account_frozen", "account_closed", "account_closing"}:
        return _("Your account cannot receive money right now. Unfreeze it in Security, or contact us.")
    if codes & {"holder_name_mismatch", "card_number_invalid", "bank_not_supported", "amount_over_limit"}:
        return _("Please check the payment details listed above and try again with a card in your own name.")
    if "peak_delay" in codes:
        return _(
            "It is a busy time: please wait up to an hour. If it has not arrived by then, open a ticket with the facts below."
        )
    return _(
        "If you were charged but the money has not arrived within 2 hours, open a ticket with the facts below; we will trace it with the channel."
    )
