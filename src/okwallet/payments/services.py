"""Payments services: wallets, deposits, withdrawals, transfers between customers, bank cards,
settlement of channel notifications and the active query (reconciliation, reversals and the
deposit self-check have modules of their own).

Money moves only through the ledger (okwallet.ledger.services), with keys derived from our
transaction reference, so every path that learns "this deposit was paid" (callback, active
query, self-check, reconciliation) may run any number of times and credits once.

Locking: a service that changes a ``Transaction`` locks its row first (``select_for_update``),
then calls the ledger, which locks the accounts in id order. Notifications go to the outbox and
are delivered after commit.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput, NotFound, OkError
from okwallet.core.money import check_amount_fen, format_fen
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc, to_local
from okwallet.ledger.models import Account
from okwallet.ledger.services import account_close, account_create, raise_for_result, transfer_create
from okwallet.payments import cards as cardlib
from okwallet.payments.channels import ChannelError, get_channel
from okwallet.payments.channels.base import SignatureError
from okwallet.payments.models import BankCard, ChannelMessage, Transaction, TransactionEvent, Wallet

log = logging.getLogger(__name__)

# Channel errors after which we cannot know whether the channel acted on the request.
UNCERTAIN_CHANNEL_ERRORS = {"channel_unavailable", "channel_bad_response"}

PER_TRANSACTION_LIMIT_FEN = getattr(settings, "OKWALLET_PER_TRANSACTION_LIMIT_FEN", 5_000_000)  # ¥50,000
SMS_THRESHOLD_FEN = getattr(settings, "OKWALLET_SMS_THRESHOLD_FEN", 50_000)  # ¥500
DEFAULT_CHANNEL = "sandbox"
ACTIVE_QUERY_AFTER_MINUTES = 5


# --- accounts gate (the accounts app provides these; degrade if it is missing) -----------------


def _assert_can_move_money(user, *, outgoing: bool) -> None:
    try:
        from okwallet.accounts.services import customer_assert_can_move_money
    except ImportError:  # pragma: no cover - accounts not there yet
        if user.status != "active":
            raise OkError(
                "account_frozen", _("Your account cannot move money right now."), http_status=403
            ) from None
        return
    customer_assert_can_move_money(user=user, outgoing=outgoing)


def _realname(user):
    try:
        from okwallet.accounts.selectors import realname_for
    except ImportError:  # pragma: no cover
        return None
    return realname_for(user)


def _payment_class(user):
    try:
        from okwallet.accounts.selectors import payment_class_for
    except ImportError:  # pragma: no cover
        return None
    return payment_class_for(user)


# --- wallets and system accounts ------------------------------------------------------------


def wallet_ensure(*, user) -> Wallet:
    """The customer's CNY wallet (created on first use; idempotent)."""
    wallet = Wallet.objects.filter(user_id=user.pk).first()
    if wallet is not None:
        return wallet
    with transaction.atomic():
        account = account_create(
            code=Account.Code.WALLET, ref=f"wallet:{user.pk}", debits_must_not_exceed_credits=True
        )
        wallet, _created = Wallet.objects.get_or_create(user=user, defaults={"account": account})
    return wallet


def system_account(code: str, channel: str = DEFAULT_CHANNEL) -> Account:
    return account_create(code=code, ref=f"{code}:{channel}")


def new_reference() -> str:
    return to_local(now_utc()).strftime("T%y%m%d%H%M%S") + f"{secrets.randbelow(10**6):06d}"


def _event(txn: Transaction, step: str, note: str = "") -> None:
    TransactionEvent.objects.create(transaction=txn, step=step, note=note[:200])


def _notify(txn: Transaction, text: str) -> None:
    """In-app always; SMS above the threshold and for every withdrawal."""
    notification_send(channel="inapp", kind=f"payments.{txn.kind}.{txn.status}", body=text, user=txn.user)
    if txn.kind == Transaction.Kind.WITHDRAWAL or txn.amount_fen >= SMS_THRESHOLD_FEN:
        if getattr(txn.user, "phone", ""):
            notification_send(
                channel="sms",
                kind=f"payments.{txn.kind}.{txn.status}",
                body=f"【OK钱包】{text}",
                user=txn.user,
            )


def _check_amount(amount_fen) -> int:
    amount_fen = check_amount_fen(amount_fen)
    if amount_fen > PER_TRANSACTION_LIMIT_FEN:
        raise InvalidInput(
            "amount_over_transaction_limit",
            _("The amount is over the limit of %(limit)s per transaction.")
            % {"limit": format_fen(PER_TRANSACTION_LIMIT_FEN)},
            details={"limit_fen": PER_TRANSACTION_LIMIT_FEN},
        )
    return amount_fen


def outgoing_total_fen(user, *, since=None) -> int:
    """Money that left (or is leaving) the wallet since ``since`` (all time when None)."""
    qs = Transaction.objects.filter(
        user_id=user.pk,
        kind__in=[Transaction.Kind.WITHDRAWAL, Transaction.Kind.TRANSFER_OUT],
        status__in=[Transaction.Status.PENDING, Transaction.Status.SUCCEEDED],
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return int(qs.aggregate(s=Sum("amount_fen"))["s"] or 0)


def outgoing_used_fen(user, period: str) -> int:
    start = None
    if period == "year":
        start = to_local(now_utc()).replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return outgoing_total_fen(user, since=start)


def _check_class_limit(user, amount_fen: int) -> None:
    pclass = _payment_class(user)
    if pclass is None:
        return
    if not pclass.code or pclass.limit_fen <= 0:
        raise OkError(
            "realname_required",
            _("Complete real-name verification before money can leave your wallet."),
            http_status=403,
        )
    used = outgoing_used_fen(user, pclass.period)
    if used + amount_fen > pclass.limit_fen:
        raise OkError(
            "account_class_limit",
            _(
                "This would exceed your class %(code)s account limit (%(limit)s, %(left)s left). Verify more to raise it."
            )
            % {
                "code": pclass.code,
                "limit": format_fen(pclass.limit_fen),
                "left": format_fen(max(0, pclass.limit_fen - used)),
            },
            details={"limit_fen": pclass.limit_fen, "used_fen": used, "period": pclass.period},
            http_status=403,
        )


def _available_fen(wallet: Wallet) -> int:
    acc = Account.objects.get(pk=wallet.account_id)
    return acc.available_fen


def _notify_url() -> str:
    base = getattr(settings, "OKWALLET_PUBLIC_URL", "") or "http://127.0.0.1:8000"
    return base.rstrip("/") + reverse("payments:notify", kwargs={"channel": DEFAULT_CHANNEL})


# --- bank cards -----------------------------------------------------------------------------


def cards_assert_changeable(*, user, lock: bool = False) -> None:
    """Binding or unbinding a card changes where money can come from and go to and may add the
    ``bank_card`` verification source: a security change, so (as Alipay does) not on a frozen,
    closing or closed account. Same codes and status as the money gate (``account_frozen``,
    ``account_closing``, ``account_closed``, 403).

    ``lock=True`` (inside a transaction) first locks the customer's row, the row
    ``account_freeze`` locks, so a freeze that lands while the bank is checking a card is seen."""
    if lock:
        from okwallet.accounts.models import User

        User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk", flat=True).first()
    try:
        _assert_can_move_money(user, outgoing=False)
    except OkError as exc:
        if exc.code != "account_frozen":
            raise
        raise OkError(
            "account_frozen",
            _(
                "Your account is frozen. Unfreeze it in Security (identity check needed) to bind or remove cards."
            ),
            http_status=exc.http_status,
        ) from None


# What the bank's "no" means to the customer (CardCheck.result → code, message); each a 422.
CARD_REFUSALS = {
    "holder_mismatch": (
        "card_holder_mismatch",
        _("The bank holds this card under another name: only a card in your own name can be bound."),
    ),
    "id_number_mismatch": (
        "card_id_mismatch",
        _(
            "The bank holds this card under another ID number. Bind a card opened with your own ID card, "
            "or ask the bank to update its records."
        ),
    ),
    "phone_mismatch": (
        "card_phone_mismatch",
        _(
            "This is not the mobile number the bank holds for this card (the bank-reserved number). "
            "Enter the number you gave the bank, or ask the bank to update it."
        ),
    ),
    "card_inactive": (
        "card_inactive",
        _(
            "The bank says this card cannot be used (reported lost, cancelled or dormant). "
            "Contact the bank or bind another card."
        ),
    ),
}
CARD_REFUSED = ("card_verification_failed", _("The bank could not verify this card in your name."))


def _card_refused(*, user, code: str, card: str, request, channel_code: str = "") -> None:
    """A refused binding stays in the security history (it is a knowledge check of the ID number
    and the bank's records); the caller raises afterwards, outside any transaction."""
    try:
        from okwallet.accounts.services import security_event_record
    except ImportError:  # pragma: no cover
        return
    details = {"code": code, "card": card}
    if channel_code:
        details["channel_code"] = channel_code
    security_event_record(user=user, kind="card_bind_failed", request=request, details=details)


def card_bind(
    *, user, number: str, holder_name: str, id_number: str, reserved_phone: str = "", request=None
) -> BankCard:
    """Bind a debit card after the bank's four-element check (四要素): card number (Luhn, a
    supported bank), holder name (= the verified real name), ID number (re-typed; must be the one
    the real name was verified with, as only its keyed hash is stored) and the mobile number the
    bank holds for the card (``reserved_phone``; the account's own number when empty).

    Not on a frozen, closing or closed account (``cards_assert_changeable``, checked before and,
    under the customer's row lock, after the bank's check). The bank is asked outside any
    transaction; a refusal (ours for the ID number, or the bank's) is recorded as a
    ``card_bind_failed`` security event, so call this outside a transaction.
    Locks: User row, then RealName row (``realname_add_source``)."""
    from okwallet.accounts.phone import normalise_phone

    cards_assert_changeable(user=user)
    number = cardlib.clean_number(number)
    if not cardlib.luhn_ok(number):
        raise InvalidInput("card_number_invalid", _("This card number is not valid. Check the digits."))
    bank = cardlib.bank_for(number)
    if bank is None:
        raise InvalidInput("bank_not_supported", _("Cards of this bank are not supported yet."))
    realname = _realname(user)
    if realname is None:
        raise OkError(
            "realname_required", _("Complete real-name verification before binding a card."), http_status=403
        )
    holder_name = " ".join((holder_name or "").split())
    if holder_name != realname.name:
        raise InvalidInput(
            "card_holder_mismatch",
            _("The card holder must be you: the name must match your verified real name."),
        )
    masked = cardlib.mask(bank[1], number[-4:])
    from okwallet.accounts.services import realname_id_number_check

    try:
        id_number = realname_id_number_check(user=user, id_number=id_number)
    except InvalidInput as exc:
        if exc.code == "realname_id_mismatch":
            _card_refused(user=user, code=exc.code, card=masked, request=request)
        raise
    phone = normalise_phone(reserved_phone) if (reserved_phone or "").strip() else (user.phone or "")
    if not phone:
        raise InvalidInput("invalid_phone", _("Enter the mobile number the bank holds for this card."))
    digest = cardlib.number_hash(number)
    if BankCard.objects.filter(user_id=user.pk, number_hash=digest, status=BankCard.Status.ACTIVE).exists():
        raise OkError("card_already_bound", _("This card is already bound."), http_status=409)
    try:
        check = get_channel(DEFAULT_CHANNEL).verify_card(
            number=number, holder_name=holder_name, id_number=id_number, phone=phone
        )
    except ChannelError:
        raise OkError(
            "channel_unavailable",
            _("The bank cannot be reached right now. Please try again later."),
            http_status=503,
        ) from None
    if not check.ok:
        code, message = CARD_REFUSALS.get(check.result, CARD_REFUSED)
        _card_refused(user=user, code=code, card=masked, request=request, channel_code=check.channel_code)
        raise InvalidInput(code, message, details={"channel_code": check.channel_code})
    wallet_ensure(user=user)
    with transaction.atomic():
        cards_assert_changeable(user=user, lock=True)
        card = BankCard.objects.create(
            user=user,
            bank_code=bank[0],
            bank_name=bank[1],
            last4=number[-4:],
            number_hash=digest,
            holder_name=holder_name,
        )
        # The bank's four-element check of a card in the verified name is a verification source
        # (PBoC): it may raise the payment class. Same transaction; idempotent for a second card.
        from okwallet.accounts.services import realname_add_source

        realname_add_source(
            user=user,
            source="bank_card",
            request=request,
            details={"card": card.masked, "channel": DEFAULT_CHANNEL},
        )
        notification_send(
            channel="inapp",
            kind="payments.card_bound",
            user=user,
            body=gettext("Card %(card)s is now bound to your wallet.") % {"card": card.masked},
        )
    return card


def card_unbind(*, user, card_id: int) -> BankCard:
    """Unbind one of the customer's cards (idempotent). Not on a frozen, closing or closed account:
    a thief must not rearrange cards, and closure unbinds them itself (``wallet_close``)."""
    with transaction.atomic():
        cards_assert_changeable(user=user, lock=True)
        card = BankCard.objects.select_for_update().filter(pk=card_id, user_id=user.pk).first()
        if card is None:
            raise NotFound("card_not_found", _("This card was not found."))
        if card.status == BankCard.Status.ACTIVE:
            card.status = BankCard.Status.UNBOUND
            card.unbound_at = now_utc()
            card.save(update_fields=["status", "unbound_at"])
    return card


def _own_card(user, card_id) -> BankCard:
    card = BankCard.objects.filter(pk=card_id, user_id=user.pk, status=BankCard.Status.ACTIVE).first()
    if card is None:
        raise NotFound("card_not_found", _("Choose one of your bound cards."))
    return card


# --- deposits -------------------------------------------------------------------------------


def deposit_create(
    *, user, amount_fen: int, method: str = "card", card_id: int | None = None, return_url: str = ""
) -> Transaction:
    """Start a deposit: a pending record and an order at the channel. The wallet is credited only
    when the channel says it was paid (callback, active query or self-check)."""
    amount_fen = _check_amount(amount_fen)
    _assert_can_move_money(user, outgoing=False)
    if method not in (Transaction.Method.CARD, Transaction.Method.ALIPAY, Transaction.Method.WECHAT):
        raise InvalidInput("method_not_supported", _("Choose a bank card, Alipay or WeChat Pay."))
    card = _own_card(user, card_id) if method == Transaction.Method.CARD else None
    wallet_ensure(user=user)
    reference = new_reference()
    with transaction.atomic():
        txn = Transaction.objects.create(
            reference=reference,
            user=user,
            kind=Transaction.Kind.DEPOSIT,
            amount_fen=amount_fen,
            method=method,
            channel=DEFAULT_CHANNEL,
            card=card,
            ledger_key=f"dep:{reference}",
        )
        _event(txn, TransactionEvent.Step.SUBMITTED)
    try:
        order = get_channel(DEFAULT_CHANNEL).create_order(
            reference=reference,
            amount_fen=amount_fen,
            method=method,
            description=gettext("OK Wallet top-up"),
            notify_url=_notify_url(),
            return_url=return_url.replace("{reference}", reference),
            card={"bank": card.bank_code, "last4": card.last4, "holder": card.holder_name} if card else None,
        )
    except ChannelError as exc:
        with transaction.atomic():
            Transaction.objects.filter(pk=txn.pk).update(
                status=Transaction.Status.FAILED, failure_code=exc.code[:40], failure_message=str(exc)[:200]
            )
            _event(txn, TransactionEvent.Step.FAILED, exc.code)
        raise OkError(
            "channel_unavailable",
            _(
                "The payment channel cannot be reached right now. Nothing was charged; please try again later."
            ),
            http_status=503,
            details={"reference": reference},
        ) from None
    with transaction.atomic():
        Transaction.objects.filter(pk=txn.pk).update(
            channel_ref=order.channel_ref, pay_url=order.pay_url[:300]
        )
        _event(txn, TransactionEvent.Step.AT_CHANNEL, order.channel_ref)
    txn.refresh_from_db()
    return txn


def deposit_settle(
    *, reference: str, amount_fen: int, channel_ref: str = "", source: str = "callback"
) -> tuple[Transaction, bool]:
    """The channel says this deposit was paid: credit the wallet once. Returns (txn, credited_now).

    Raises ``OkError`` ``unknown_order`` / ``amount_mismatch`` without touching money."""
    with transaction.atomic():
        txn = (
            Transaction.objects.select_for_update().filter(reference=reference).select_related("user").first()
        )
        if txn is None or txn.kind != Transaction.Kind.DEPOSIT:
            raise NotFound("unknown_order", _("No such deposit."))
        if amount_fen != txn.amount_fen:
            raise InvalidInput(
                "amount_mismatch",
                _("The paid amount differs from the order."),
                details={"ours": txn.amount_fen, "theirs": amount_fen},
            )
        if txn.status in (Transaction.Status.SUCCEEDED, Transaction.Status.REVERSED):
            # Credited already (a reversal later took it back with a transfer of its own; a late
            # duplicate notification must not make it "succeeded" again).
            return txn, False
        wallet = wallet_ensure(user=txn.user)
        result = transfer_create(
            key=txn.ledger_key,
            debit_account_id=system_account("clearing").pk,
            credit_account_id=wallet.account_id,
            amount_fen=amount_fen,
            code="deposit",
            memo=reference,
        )
        raise_for_result(result)
        late = txn.status == Transaction.Status.FAILED
        txn.status = Transaction.Status.SUCCEEDED
        txn.settled_at = now_utc()
        if channel_ref:
            txn.channel_ref = channel_ref
        txn.failure_code = ""
        txn.save(update_fields=["status", "settled_at", "channel_ref", "failure_code", "updated_at"])
        _event(txn, TransactionEvent.Step.SUCCEEDED, f"{source}{' (late payment)' if late else ''}")
        _notify(
            txn,
            gettext("Your top-up of %(amount)s has arrived in your wallet (ref. %(ref)s).")
            % {"amount": format_fen(txn.amount_fen), "ref": txn.reference},
        )
    return txn, True


def deposit_fail(*, reference: str, code: str, source: str = "query") -> Transaction:
    with transaction.atomic():
        txn = Transaction.objects.select_for_update().get(reference=reference)
        if txn.status != Transaction.Status.PENDING:
            return txn
        txn.status = Transaction.Status.FAILED
        txn.failure_code = code[:40]
        txn.save(update_fields=["status", "failure_code", "updated_at"])
        _event(txn, TransactionEvent.Step.FAILED, f"{source}: {code}")
        _notify(
            txn,
            gettext(
                "Your top-up of %(amount)s did not go through (ref. %(ref)s). Nothing was taken from your wallet."
            )
            % {"amount": format_fen(txn.amount_fen), "ref": txn.reference},
        )
    return txn


# --- withdrawals ----------------------------------------------------------------------------


def withdrawal_create(*, user, amount_fen: int, card_id: int) -> Transaction:
    """Hold the amount (a pending ledger transfer), then ask the channel to pay it out to a bound
    card in the customer's own name. Success posts the hold; failure voids it (money back)."""
    amount_fen = _check_amount(amount_fen)
    _assert_can_move_money(user, outgoing=True)
    card = _own_card(user, card_id)
    realname = _realname(user)
    if realname is not None and card.holder_name != realname.name:
        raise InvalidInput("card_holder_mismatch", _("Withdrawals go only to a card in your own name."))
    _check_class_limit(user, amount_fen)
    wallet = wallet_ensure(user=user)
    reference = new_reference()
    with transaction.atomic():
        txn = Transaction.objects.create(
            reference=reference,
            user=user,
            kind=Transaction.Kind.WITHDRAWAL,
            amount_fen=amount_fen,
            method=Transaction.Method.CARD,
            channel=DEFAULT_CHANNEL,
            card=card,
            ledger_key=f"wd:{reference}",
        )
        result = transfer_create(
            key=txn.ledger_key,
            kind="pending",
            debit_account_id=wallet.account_id,
            credit_account_id=system_account("payout").pk,
            amount_fen=amount_fen,
            code="withdrawal",
            memo=reference,
        )
        if result.result == "exceeds_credits":
            raise OkError(
                "insufficient_balance",
                _("Your balance is not enough for this withdrawal."),
                http_status=409,
                details={"available_fen": _available_fen(wallet)},
            )
        raise_for_result(result)
        _event(txn, TransactionEvent.Step.SUBMITTED)
    try:
        order = get_channel(DEFAULT_CHANNEL).create_payout(
            reference=reference,
            amount_fen=amount_fen,
            notify_url=_notify_url(),
            card={"bank": card.bank_code, "last4": card.last4, "holder": card.holder_name},
        )
    except ChannelError as exc:
        if exc.code not in UNCERTAIN_CHANNEL_ERRORS:
            # The channel answered and refused the payout: nothing was sent, release the hold now.
            return withdrawal_settle(reference=reference, success=False, error_code=exc.code, source="submit")
        # A timeout, a dropped connection or a 5xx may mean the channel did take the payout.
        # Releasing the hold now could pay out twice, so it stays held; the active query asks the
        # channel and posts it (paid) or voids it (failed or unknown there).
        with transaction.atomic():
            _event(txn, TransactionEvent.Step.AT_CHANNEL, f"outcome unknown: {exc.code}")
        txn.refresh_from_db()
        return txn
    with transaction.atomic():
        Transaction.objects.filter(pk=txn.pk).update(channel_ref=order.channel_ref)
        _event(txn, TransactionEvent.Step.AT_CHANNEL, order.channel_ref)
    txn.refresh_from_db()
    return txn


def withdrawal_settle(
    *,
    reference: str,
    success: bool,
    amount_fen: int | None = None,
    channel_ref: str = "",
    error_code: str = "",
    source: str = "callback",
) -> Transaction:
    """Post (paid out) or void (failed: the money is back) a withdrawal's hold, once."""
    with transaction.atomic():
        txn = (
            Transaction.objects.select_for_update().filter(reference=reference).select_related("user").first()
        )
        if txn is None or txn.kind != Transaction.Kind.WITHDRAWAL:
            raise NotFound("unknown_order", _("No such withdrawal."))
        if amount_fen is not None and amount_fen != txn.amount_fen:
            raise InvalidInput(
                "amount_mismatch",
                _("The paid amount differs from the order."),
                details={"ours": txn.amount_fen, "theirs": amount_fen},
            )
        if txn.status != Transaction.Status.PENDING:
            return txn
        kind = "post" if success else "void"
        raise_for_result(
            transfer_create(
                key=f"{txn.ledger_key}:{kind}", kind=kind, pending_key=txn.ledger_key, memo=reference
            )
        )
        txn.status = Transaction.Status.SUCCEEDED if success else Transaction.Status.FAILED
        txn.settled_at = now_utc()
        txn.failure_code = "" if success else (error_code or "payout_failed")[:40]
        if channel_ref:
            txn.channel_ref = channel_ref
        txn.save(update_fields=["status", "settled_at", "failure_code", "channel_ref", "updated_at"])
        _event(
            txn,
            TransactionEvent.Step.SUCCEEDED if success else TransactionEvent.Step.FAILED,
            f"{source}{': ' + error_code if error_code else ''}",
        )
        card = txn.card.masked if txn.card_id else ""
        if success:
            text = gettext("Your withdrawal of %(amount)s to %(card)s has been paid out (ref. %(ref)s).")
        else:
            text = gettext(
                "Your withdrawal of %(amount)s to %(card)s failed; the money is back in your wallet (ref. %(ref)s)."
            )
        _notify(txn, text % {"amount": format_fen(txn.amount_fen), "card": card, "ref": txn.reference})
    return txn


# --- transfers between customers -------------------------------------------------------------


@dataclass(frozen=True)
class PayeePreview:
    user_id: int
    masked_name: str
    masked_phone: str


def payee_lookup(*, payer, phone: str) -> PayeePreview:
    """Who would receive the money, masked (张*三, 138****0002) so the payer can confirm."""
    try:
        from okwallet.accounts.selectors import customer_by_phone
    except ImportError:  # pragma: no cover
        raise NotFound("payee_not_found", _("No OK Wallet customer has this mobile number.")) from None
    payee = customer_by_phone(phone)
    if payee is None or not payee.is_customer:
        raise NotFound("payee_not_found", _("No OK Wallet customer has this mobile number."))
    if payee.pk == payer.pk:
        raise InvalidInput("payee_is_self", _("You cannot transfer money to yourself."))
    realname = _realname(payee)
    if realname is None:
        raise OkError(
            "payee_not_verified",
            _("This customer has not completed real-name verification and cannot receive transfers."),
            http_status=409,
        )
    phone = payee.phone or ""
    return PayeePreview(
        user_id=payee.pk,
        masked_name=realname.masked_name,
        masked_phone=(phone[-11:-8] + "****" + phone[-4:]) if len(phone) >= 11 else "****",
    )


def p2p_transfer_create(
    *, payer, payee_id: int, amount_fen: int, note: str = "", client_key: str = ""
) -> Transaction:
    """Send money to another customer after the payer confirmed the masked payee. Immediate."""
    from okwallet.accounts.models import User

    amount_fen = _check_amount(amount_fen)
    _assert_can_move_money(payer, outgoing=True)
    payee = User.objects.filter(pk=payee_id).first()
    if payee is None or not payee.is_customer or payee.pk == payer.pk:
        raise NotFound("payee_not_found", _("No OK Wallet customer has this mobile number."))
    try:
        _assert_can_move_money(payee, outgoing=False)
    except OkError:
        raise OkError(
            "payee_cannot_receive", _("This customer cannot receive money right now."), http_status=409
        ) from None
    _check_class_limit(payer, amount_fen)
    src = wallet_ensure(user=payer)
    dst = wallet_ensure(user=payee)
    reference = new_reference()
    with transaction.atomic():
        out = Transaction.objects.create(
            reference=reference,
            user=payer,
            kind=Transaction.Kind.TRANSFER_OUT,
            amount_fen=amount_fen,
            method=Transaction.Method.WALLET,
            counterparty=payee,
            note=note[:100],
            ledger_key=f"p2p:{reference}",
        )
        result = transfer_create(
            key=out.ledger_key,
            debit_account_id=src.account_id,
            credit_account_id=dst.account_id,
            amount_fen=amount_fen,
            code="transfer",
            memo=reference,
        )
        if result.result == "exceeds_credits":
            raise OkError(
                "insufficient_balance",
                _("Your balance is not enough for this transfer."),
                http_status=409,
                details={"available_fen": _available_fen(src)},
            )
        raise_for_result(result)
        incoming = Transaction.objects.create(
            reference=new_reference(),
            user=payee,
            kind=Transaction.Kind.TRANSFER_IN,
            amount_fen=amount_fen,
            method=Transaction.Method.WALLET,
            counterparty=payer,
            note=note[:100],
            counterpart_txn=out,
            ledger_key=out.ledger_key,
            status=Transaction.Status.SUCCEEDED,
            settled_at=now_utc(),
        )
        out.status = Transaction.Status.SUCCEEDED
        out.settled_at = now_utc()
        out.counterpart_txn = incoming
        out.save(update_fields=["status", "settled_at", "counterpart_txn", "updated_at"])
        for t in (out, incoming):
            _event(t, TransactionEvent.Step.SUBMITTED)
            _event(t, TransactionEvent.Step.SUCCEEDED)
        payee_name = _realname(payee).masked_name if _realname(payee) else ""
        _notify(
            out,
            gettext("You sent %(amount)s to %(name)s (ref. %(ref)s).")
            % {"amount": format_fen(amount_fen), "name": payee_name, "ref": reference},
        )
        payer_name = _realname(payer).masked_name if _realname(payer) else ""
        _notify(
            incoming,
            gettext("You received %(amount)s from %(name)s.")
            % {"amount": format_fen(amount_fen), "name": payer_name},
        )
    return out


# --- channel notifications -------------------------------------------------------------------


def channel_notification_receive(
    *, channel: str, headers: dict, body: bytes, remote_addr: str = ""
) -> tuple[int, bytes]:
    """Store the raw request, verify it, apply it idempotently; returns (HTTP status, body) the channel expects."""
    keep = {
        k: v for k, v in headers.items() if k.lower().startswith(("wechatpay-", "content-type", "user-agent"))
    }
    msg = ChannelMessage.objects.create(
        channel=channel,
        headers=keep,
        body=body.decode("utf-8", "replace")[:100_000],
        remote_addr=remote_addr[:45],
    )

    def reject(reason: str, status: int = 400) -> tuple[int, bytes]:
        ChannelMessage.objects.filter(pk=msg.pk).update(
            verdict=ChannelMessage.Verdict.REJECTED, reason=reason[:60]
        )
        log.warning("channel %s notification %s rejected: %s (from %s)", channel, msg.pk, reason, remote_addr)
        return status, b'{"code": "FAIL", "message": "%s"}' % reason.encode()

    try:
        adapter = get_channel(channel)
    except ChannelError:
        return reject("unknown_channel", 404)
    try:
        note = adapter.parse_notification(headers=headers, body=body)
    except SignatureError as exc:
        return reject(exc.reason, 401 if "signature" in exc.reason or "timestamp" in exc.reason else 400)
    ChannelMessage.objects.filter(pk=msg.pk).update(nonce=note.nonce[:64])
    if (
        ChannelMessage.objects.filter(channel=channel, nonce=note.nonce)
        .exclude(pk=msg.pk)
        .exclude(verdict=ChannelMessage.Verdict.REJECTED)
        .exists()
    ):
        return reject("replayed", 401)
    try:
        if note.event == "deposit.refunded":
            from okwallet.payments.reversals import reversal_from_channel

            rev, applied = reversal_from_channel(
                reference=note.reference,
                amount_fen=note.amount_fen,
                refund_id=note.refund_id,
                reason=note.refund_reason,
                channel=channel,
            )
            txn = rev.original
        elif note.event == "deposit.succeeded":
            txn, applied = deposit_settle(
                reference=note.reference,
                amount_fen=note.amount_fen,
                channel_ref=note.channel_ref,
                source="callback",
            )
        else:
            before = (
                Transaction.objects.filter(reference=note.reference).values_list("status", flat=True).first()
            )
            txn = withdrawal_settle(
                reference=note.reference,
                success=note.event == "payout.succeeded",
                amount_fen=note.amount_fen,
                channel_ref=note.channel_ref,
                error_code=note.error_code,
                source="callback",
            )
            applied = before == Transaction.Status.PENDING
    except OkError as exc:
        return reject(exc.code, 404 if exc.code == "unknown_order" else 400)
    verdict = ChannelMessage.Verdict.ACCEPTED if applied else ChannelMessage.Verdict.DUPLICATE
    ChannelMessage.objects.filter(pk=msg.pk).update(verdict=verdict, transaction=txn)
    return 200, adapter.ack_body


# --- the active query --------------------------------------------------------------------------


def pending_orders_query(*, older_than_minutes: int = ACTIVE_QUERY_AFTER_MINUTES, limit: int = 200) -> dict:
    """Ask the channel about deposits and withdrawals still pending after N minutes and settle them."""
    cutoff = now_utc() - timedelta(minutes=older_than_minutes)
    counts = {"checked": 0, "settled": 0, "failed": 0}
    for txn in Transaction.objects.filter(
        status=Transaction.Status.PENDING,
        created_at__lte=cutoff,
        kind__in=[Transaction.Kind.DEPOSIT, Transaction.Kind.WITHDRAWAL],
    ).order_by("created_at")[:limit]:
        counts["checked"] += 1
        try:
            outcome = _query_and_settle(txn, source="active query")
        except (ChannelError, OkError) as exc:
            log.warning("active query of %s failed: %s", txn.reference, exc)
            continue
        if outcome in counts:
            counts[outcome] += 1
    return counts


def _query_and_settle(txn: Transaction, *, source: str) -> str:
    adapter = get_channel(txn.channel or DEFAULT_CHANNEL)
    if txn.kind == Transaction.Kind.DEPOSIT:
        status = adapter.query_order(reference=txn.reference)
        if status.state == "paid":
            _t, applied = deposit_settle(
                reference=txn.reference,
                amount_fen=status.amount_fen,
                channel_ref=status.channel_ref,
                source=source,
            )
            return "settled" if applied else "unchanged"
        if status.state in ("closed", "failed"):
            deposit_fail(
                reference=txn.reference, code=status.error_code or f"channel_{status.state}", source=source
            )
            return "failed"
        return "pending"
    status = adapter.query_payout(reference=txn.reference)
    if status.state == "paid":
        withdrawal_settle(
            reference=txn.reference,
            success=True,
            amount_fen=status.amount_fen,
            channel_ref=status.channel_ref,
            source=source,
        )
        return "settled"
    if status.state in ("failed", "closed", "unknown"):
        withdrawal_settle(
            reference=txn.reference,
            success=False,
            error_code=status.error_code or "payout_not_found",
            source=source,
        )
        return "failed"
    return "pending"


# --- closure hooks ---------------------------------------------------------------------------------


def wallet_close(*, user) -> None:
    """On account closure: unbind cards and close the wallet account (balance must be zero)."""
    with transaction.atomic():
        BankCard.objects.filter(user_id=user.pk, status=BankCard.Status.ACTIVE).update(
            status=BankCard.Status.UNBOUND, unbound_at=now_utc()
        )
        wallet = Wallet.objects.filter(user_id=user.pk).first()
        if wallet is not None:
            account_close(account_id=wallet.account_id)


def rate_limit(name: str, user, *, limit: int, window_seconds: int) -> None:
    """Per-customer rate limit for money actions (namespaced so test runs do not share counters)."""
    from okwallet.core import ratelimit

    namespace = getattr(settings, "OKWALLET_RATELIMIT_NAMESPACE", "")
    ratelimit.enforce(f"{namespace}payments:{name}:{user.pk}", limit=limit, window_seconds=window_seconds)


def step_up_require(request, purpose: str) -> None:
    """A fresh security check (accounts' step-up) before money leaves or a new payee is paid."""
    try:
        from okwallet.accounts.stepup import step_up_require as require
    except ImportError:  # pragma: no cover - accounts without step-up
        return
    require(request, purpose)


def step_up_passed(request, purpose: str) -> bool:
    try:
        from okwallet.accounts.stepup import step_up_passed as passed
    except ImportError:  # pragma: no cover
        return True
    return passed(request, purpose)


def is_new_payee(*, payer, payee_id: int) -> bool:
    return not Transaction.objects.filter(
        user_id=payer.pk,
        kind=Transaction.Kind.TRANSFER_OUT,
        counterparty_id=payee_id,
        status=Transaction.Status.SUCCEEDED,
    ).exists()
