"""Wallet API for the app: balance, transaction records, deposits, withdrawals, transfers, cards."""

from __future__ import annotations

from datetime import date, datetime

from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from okwallet.core.errors import NotFound, PermissionDenied
from okwallet.payments import reversals, selectors, self_check, services
from okwallet.payments.idempotency import idempotent

router = Router(tags=["wallet"])


def _customer(request):
    user = request.auth
    if not getattr(user, "is_customer", False):
        raise PermissionDenied("customers_only", _("Only customers have a wallet."))
    return user


class SummaryOut(Schema):
    available_fen: int
    pending_out_fen: int
    pending_in_fen: int
    currency: str


class EventOut(Schema):
    step: str
    note: str
    created_at: datetime


class TransactionOut(Schema):
    reference: str
    kind: str
    status: str
    amount_fen: int
    method: str
    channel_ref: str
    card: str | None = None
    failure_code: str
    pay_url: str
    created_at: datetime
    settled_at: datetime | None

    @staticmethod
    def resolve_card(obj):
        return obj.card.masked if obj.card_id else None


class TransactionDetailOut(TransactionOut):
    events: list[EventOut]

    @staticmethod
    def resolve_events(obj):
        return list(obj.events.all())


class PageOut(Schema):
    items: list[TransactionOut]
    count: int
    page: int
    pages: int


class Filters(Schema):
    kind: str = Field("", pattern="^(|deposit|withdrawal|transfer_out|transfer_in|reversal|refund)$")
    status: str = Field("", pattern="^(|pending|succeeded|failed|reversed)$")
    date_from: date | None = None
    date_to: date | None = None
    page: int = Field(1, ge=1, le=100000)


class DepositIn(Schema):
    amount_fen: int = Field(..., gt=0, le=5_000_000, description="positive integer fen, at most ¥50,000")
    method: str = Field("card", pattern="^(card|alipay|wechat)$")
    card_id: int | None = Field(None, ge=1, le=2**63 - 1)


class WithdrawalIn(Schema):
    amount_fen: int = Field(..., gt=0, le=5_000_000)
    card_id: int = Field(..., ge=1, le=2**63 - 1)


class PayeeIn(Schema):
    phone: str = Field(..., min_length=5, max_length=20)


class PayeeOut(Schema):
    payee_id: int = Field(..., ge=1, le=2**63 - 1)
    masked_name: str
    masked_phone: str


class TransferIn(Schema):
    payee_id: int = Field(..., ge=1, le=2**63 - 1)
    amount_fen: int = Field(..., gt=0, le=5_000_000)
    note: str = Field("", max_length=100)


class CardIn(Schema):
    number: str = Field(..., pattern=r"^[0-9 ]{12,23}$")
    holder_name: str = Field(..., min_length=2, max_length=60)
    id_number: str = Field(
        ..., max_length=24, description="The full ID number the real name was verified with (typed again)"
    )
    reserved_phone: str = Field(
        "", max_length=20, description="The mobile number the bank holds for the card; empty: the account's"
    )


class CardOut(Schema):
    id: int
    masked: str
    bank_code: str
    holder_name: str


class SelfCheckIn(Schema):
    reference: str | None = Field(None, max_length=64)


class SelfCheckOut(Schema):
    solved: bool
    findings: list[dict]
    advice: str
    ticket_facts: dict


@router.get("/wallet", response=SummaryOut, summary="Wallet balance")
def wallet(request):
    return selectors.wallet_summary(_customer(request))


@router.get("/wallet/transactions", response=PageOut, summary="Transaction records (filters, pagination)")
def transactions(request, filters: Query[Filters]):
    user = _customer(request)
    qs = selectors.transactions_query(
        user, kind=filters.kind, status=filters.status, date_from=filters.date_from, date_to=filters.date_to
    )
    per = 20
    count = qs.count()
    items = list(qs[(filters.page - 1) * per : filters.page * per])
    return {"items": items, "count": count, "page": filters.page, "pages": max(1, -(-count // per))}


@router.get(
    "/wallet/transactions/{reference}",
    response=TransactionDetailOut,
    summary="One transaction with its timeline",
)
def transaction_detail(request, reference: str):
    return selectors.access_transaction(_customer(request), reference)


@router.post("/wallet/deposits", response={201: TransactionOut}, summary="Start a top-up")
@idempotent
def deposit_create(request, payload: DepositIn):
    user = _customer(request)
    services.rate_limit("deposit", user, limit=10, window_seconds=60)
    txn = services.deposit_create(
        user=user, amount_fen=payload.amount_fen, method=payload.method, card_id=payload.card_id
    )
    return Status(201, txn)


@router.post("/wallet/withdrawals", response={201: TransactionOut}, summary="Withdraw to a bound card")
@idempotent
def withdrawal_create(request, payload: WithdrawalIn):
    user = _customer(request)
    services.rate_limit("withdraw", user, limit=5, window_seconds=60)
    services.step_up_require(request, "withdrawal")
    return Status(
        201, services.withdrawal_create(user=user, amount_fen=payload.amount_fen, card_id=payload.card_id)
    )


@router.post(
    "/wallet/payees/lookup", response=PayeeOut, summary="Who is this mobile number? (masked, to confirm)"
)
def payee_lookup(request, payload: PayeeIn):
    user = _customer(request)
    services.rate_limit("payee", user, limit=20, window_seconds=60)
    p = services.payee_lookup(payer=user, phone=payload.phone)
    return {"payee_id": p.user_id, "masked_name": p.masked_name, "masked_phone": p.masked_phone}


@router.post("/wallet/transfers", response={201: TransactionOut}, summary="Send money to a confirmed payee")
@idempotent
def transfer_create(request, payload: TransferIn):
    user = _customer(request)
    services.rate_limit("transfer", user, limit=20, window_seconds=60)
    if services.is_new_payee(payer=user, payee_id=payload.payee_id):
        services.step_up_require(request, "new_payee")
    txn = services.p2p_transfer_create(
        payer=user, payee_id=payload.payee_id, amount_fen=payload.amount_fen, note=payload.note
    )
    return Status(201, txn)


@router.get("/wallet/cards", response=list[CardOut], summary="Bound bank cards (masked)")
def cards(request):
    return [
        {"id": c.pk, "masked": c.masked, "bank_code": c.bank_code, "holder_name": c.holder_name}
        for c in selectors.cards_for(_customer(request))
    ]


@router.post("/wallet/cards", response={201: CardOut}, summary="Bind a debit card in your name")
def card_bind(request, payload: CardIn):
    """The bank's four-element check: card number, holder name, ID number, bank-reserved mobile.

    Errors: ``card_number_invalid``, ``bank_not_supported``, ``card_holder_mismatch``,
    ``id_number_*``, ``realname_id_mismatch``, ``invalid_phone``, ``card_id_mismatch``,
    ``card_phone_mismatch``, ``card_inactive``, ``card_verification_failed`` (422);
    ``realname_required``, ``account_frozen``, ``account_closing``, ``account_closed`` (403);
    ``card_already_bound`` (409); ``rate_limited`` (429); ``channel_unavailable`` (503)."""
    user = _customer(request)
    services.rate_limit("card", user, limit=5, window_seconds=300)
    c = services.card_bind(
        user=user,
        number=payload.number,
        holder_name=payload.holder_name,
        id_number=payload.id_number,
        reserved_phone=payload.reserved_phone,
        request=request,
    )
    return Status(
        201, {"id": c.pk, "masked": c.masked, "bank_code": c.bank_code, "holder_name": c.holder_name}
    )


@router.delete("/wallet/cards/{card_id}", response={204: None}, summary="Unbind a card")
def card_unbind(request, card_id: int):
    services.card_unbind(user=_customer(request), card_id=card_id)
    return Status(204, None)


@router.post("/wallet/deposit-check", response=SelfCheckOut, summary="Deposit not arrived? Check and fix")
def deposit_check(request, payload: SelfCheckIn):
    user = _customer(request)
    services.rate_limit("selfcheck", user, limit=10, window_seconds=300)
    c = self_check.deposit_self_check(user=user, reference=payload.reference)
    return {"solved": c.solved, "findings": c.findings, "advice": c.advice, "ticket_facts": c.ticket_facts}


# --- agents: reversals and refunds (docs/wallet.md) ------------------------------------------------


def _staff(request):
    from okwallet.accounts.roles import is_staff_member

    if not is_staff_member(request.auth):
        raise PermissionDenied()
    return request.auth


class ReversalRequestIn(Schema):
    amount_fen: int = Field(..., gt=0, le=10**15, description="positive integer fen, at most what is left")
    reason_code: str = Field(..., pattern="^(chargeback|channel_refund|mistaken_transfer|other)$")
    reason: str = Field(..., min_length=5, max_length=500, description="what happened (audited)")


class ReversalDecisionIn(Schema):
    note: str = Field("", max_length=300)


class ReversalOut(Schema):
    reference: str
    original: str
    amount_fen: int
    status: str
    reason_code: str
    reason: str
    failure_code: str
    requested_by: str
    decided_by: str | None = None
    requested_at: datetime
    decided_at: datetime | None
    records: list[str]

    @staticmethod
    def resolve_original(obj):
        return obj.original.reference

    @staticmethod
    def resolve_requested_by(obj):
        # A refund or chargeback the payment channel reported has no staff requester.
        return obj.requested_by.get_username() if obj.requested_by_id else "payment_channel"

    @staticmethod
    def resolve_decided_by(obj):
        return obj.decided_by.get_username() if obj.decided_by_id else None

    @staticmethod
    def resolve_records(obj):
        return [t.reference for t in (obj.debit_txn, obj.credit_txn) if t is not None]


class StaffTransactionOut(TransactionOut):
    customer: str
    reversible_fen: int
    original: str | None = None
    events: list[EventOut]
    reversals: list[ReversalOut]

    @staticmethod
    def resolve_customer(obj):
        return obj.user.public_id or ""

    @staticmethod
    def resolve_reversible_fen(obj):
        return reversals.reversible_fen(obj)

    @staticmethod
    def resolve_original(obj):
        return obj.original.reference if obj.original_id else None

    @staticmethod
    def resolve_events(obj):
        return list(obj.events.all())

    @staticmethod
    def resolve_reversals(obj):
        root = reversals.reversal_root(obj)
        return list(
            root.reversals.select_related("original", "requested_by", "decided_by", "debit_txn", "credit_txn")
        )


@router.get(
    "/staff/transactions/{reference}",
    response=StaffTransactionOut,
    summary="Agent: a transaction with its timeline and reversals",
)
def staff_transaction(request, reference: str):
    _staff(request)
    txn = selectors.transaction_for_console(reference)
    if txn is None:
        raise NotFound("transaction_not_found", _("No such transaction."))
    return txn


@router.post(
    "/staff/transactions/{reference}/reversals",
    response={201: ReversalOut},
    summary="Agent: reverse a deposit or refund a transfer (four eyes above the threshold)",
)
@idempotent
def staff_reversal_create(request, reference: str, payload: ReversalRequestIn):
    actor = _staff(request)
    rev = reversals.reversal_request(
        reference=reference,
        amount_fen=payload.amount_fen,
        reason_code=payload.reason_code,
        reason=payload.reason,
        actor=actor,
        request=request,
    )
    return Status(201, rev)


@router.post(
    "/staff/reversals/{reference}/approve", response=ReversalOut, summary="Supervisor: approve a reversal"
)
@idempotent
def staff_reversal_approve(request, reference: str, payload: ReversalDecisionIn):
    return reversals.reversal_approve(
        reference=reference, actor=_staff(request), note=payload.note, request=request
    )


@router.post(
    "/staff/reversals/{reference}/reject", response=ReversalOut, summary="Supervisor: reject a reversal"
)
def staff_reversal_reject(request, reference: str, payload: ReversalDecisionIn):
    return reversals.reversal_reject(
        reference=reference, actor=_staff(request), note=payload.note, request=request
    )
