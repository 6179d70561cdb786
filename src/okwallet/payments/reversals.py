"""Reversals and refunds: corrections are new, compensating ledger transfers, never edits.

Two cases (docs/wallet.md):

- a posted **deposit** the channel later reports as refunded or charged back: the wallet is
  debited back to the channel's clearing account;
- a **mistaken transfer** between customers: the payee's wallet is debited and the payer's
  credited.

Rules: partial reversals are allowed, their sum never exceeds the original (requests waiting for
approval count, so two agents cannot both take the last yuan); a fully reversed record is
``reversed`` and cannot be reversed again; the debited wallet must hold the money — if it does
not, nothing moves, the request is ``failed`` with ``insufficient_balance`` and an ops case
(a ``reversal_blocked`` item on the reconciliation page) is opened instead of overdrawing the
wallet. Reversals whose running total reaches ``OKWALLET_REVERSAL_APPROVAL_FEN`` (default ¥5,000)
wait for a supervisor other than the requester (four eyes). Everything is audited; the customers
are notified after commit.

Who: senior managers, supervisors and admins may request; supervisors and admins approve.

Locking: the original record (and its counterpart, for a transfer) are locked first, in id
order, then the reversal row; the ledger then locks the wallets in account id order.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from okwallet.accounts.roles import ADMIN, SENIOR_MANAGER, SUPERVISOR, has_role, is_staff_member
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput, NotFound, OkError, PermissionDenied
from okwallet.core.money import check_amount_fen, format_fen
from okwallet.core.timeutil import now_utc
from okwallet.ledger.services import transfer_create
from okwallet.payments.models import ReconciliationMismatch, Reversal, Transaction, TransactionEvent

log = logging.getLogger(__name__)

APPROVAL_THRESHOLD_FEN = getattr(settings, "OKWALLET_REVERSAL_APPROVAL_FEN", 500_000)  # ¥5,000
REVERSIBLE_KINDS = (Transaction.Kind.DEPOSIT, Transaction.Kind.TRANSFER_OUT, Transaction.Kind.TRANSFER_IN)
RESERVING = (Reversal.Status.PENDING_APPROVAL, Reversal.Status.COMPLETED)


def can_reverse(user) -> bool:
    return is_staff_member(user) and has_role(user, SENIOR_MANAGER, SUPERVISOR, ADMIN)


def can_approve(user) -> bool:
    return is_staff_member(user) and has_role(user, SUPERVISOR, ADMIN)


def approval_threshold_fen() -> int:
    return int(getattr(settings, "OKWALLET_REVERSAL_APPROVAL_FEN", APPROVAL_THRESHOLD_FEN))


# --- reads ------------------------------------------------------------------------------------


def reversal_root(txn: Transaction) -> Transaction:
    """The record a reversal belongs to: a deposit, or the payer's side of a transfer."""
    if txn.kind == Transaction.Kind.TRANSFER_IN and txn.counterpart_txn_id:
        return Transaction.objects.get(pk=txn.counterpart_txn_id)
    return txn


def reserved_fen(original: Transaction) -> int:
    """Completed reversals plus those waiting for approval."""
    return int(
        Reversal.objects.filter(original=original, status__in=RESERVING).aggregate(s=Sum("amount_fen"))["s"]
        or 0
    )


def reversed_fen(original: Transaction) -> int:
    return int(
        Reversal.objects.filter(original=original, status=Reversal.Status.COMPLETED).aggregate(
            s=Sum("amount_fen")
        )["s"]
        or 0
    )


def reversible_fen(txn: Transaction) -> int:
    """How much of this record may still be reversed (0 when it is not reversible at all)."""
    root = reversal_root(txn)
    if root.kind not in (Transaction.Kind.DEPOSIT, Transaction.Kind.TRANSFER_OUT):
        return 0
    if root.status != Transaction.Status.SUCCEEDED:
        return 0
    return max(0, root.amount_fen - reserved_fen(root))


def access_reversal(reference: str) -> Reversal:
    rev = Reversal.objects.select_related("original", "requested_by").filter(reference=reference).first()
    if rev is None:
        raise NotFound("reversal_not_found", _("No such reversal."))
    return rev


# --- writes -----------------------------------------------------------------------------------


def _lock_original(reference: str) -> tuple[Transaction, Transaction | None]:
    """Lock the record and its counterpart (a transfer's other side) in id order."""
    txn = Transaction.objects.filter(reference=reference).first()
    if txn is None or txn.kind not in REVERSIBLE_KINDS:
        if txn is None:
            raise NotFound("transaction_not_found", _("No such transaction."))
        raise OkError(
            "not_reversible",
            _("Only succeeded top-ups and transfers between customers can be reversed."),
            http_status=409,
        )
    ids = sorted({txn.pk, *([txn.counterpart_txn_id] if txn.counterpart_txn_id else [])})
    locked = {t.pk: t for t in Transaction.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    txn = locked[txn.pk]
    root = locked.get(txn.counterpart_txn_id) if txn.kind == Transaction.Kind.TRANSFER_IN else txn
    if root is None:  # pragma: no cover - a transfer_in always has its payer's side
        raise OkError("not_reversible", _("This transfer has no sender record."), http_status=409)
    other = locked.get(root.counterpart_txn_id) if root.counterpart_txn_id else None
    if root.kind == Transaction.Kind.TRANSFER_OUT and other is None:
        raise OkError("not_reversible", _("This transfer has no payee record."), http_status=409)
    return root, other


def _check_reversible(root: Transaction, amount_fen: int) -> None:
    if root.status == Transaction.Status.REVERSED:
        raise OkError(
            "already_reversed", _("This transaction has already been reversed in full."), http_status=409
        )
    if root.status != Transaction.Status.SUCCEEDED:
        raise OkError(
            "not_reversible",
            _("Only succeeded top-ups and transfers between customers can be reversed."),
            http_status=409,
            details={"status": root.status},
        )
    left = root.amount_fen - reserved_fen(root)
    if left <= 0:
        raise OkError(
            "already_reversed",
            _("The whole amount is already reversed or waiting for approval."),
            http_status=409,
        )
    if amount_fen > left:
        raise InvalidInput(
            "reversal_exceeds_original",
            _("At most %(left)s of this transaction can still be reversed.") % {"left": format_fen(left)},
            details={"left_fen": left, "original_fen": root.amount_fen},
        )


def reversal_request(
    *,
    reference: str,
    amount_fen: int,
    reason_code: str,
    reason: str,
    actor,
    key: str = "",
    request=None,
) -> Reversal:
    """Reverse (part of) a succeeded deposit or transfer. Below the approval threshold it is done
    at once; above it, it waits for ``reversal_approve``. Idempotent on ``(actor, key)``: the same
    form submitted twice makes one reversal.

    Raises ``OkError``: ``reversal_not_permitted`` (403), ``transaction_not_found`` (404),
    ``not_reversible`` / ``already_reversed`` (409), ``reversal_exceeds_original`` /
    ``reversal_reason_required`` / amount codes (422), and — after recording the failed request
    and opening the ops case, which are kept — ``insufficient_balance`` (409)."""
    from okwallet.payments.services import new_reference

    if not can_reverse(actor):
        raise PermissionDenied(
            "reversal_not_permitted", _("Reversals are made by senior managers and supervisors.")
        )
    amount_fen = check_amount_fen(amount_fen)
    if reason_code not in Reversal.Reason.values:
        raise InvalidInput(
            "reversal_reason_invalid",
            _("Choose why the money is reversed."),
            details={"allowed": Reversal.Reason.values},
        )
    reason = " ".join((reason or "").split())[:500]
    if len(reason) < 5:
        raise InvalidInput(
            "reversal_reason_required", _("Write down why the money is reversed (at least 5 characters).")
        )
    key = (key or "")[:64]
    with transaction.atomic():
        root, other = _lock_original(reference)
        if key:
            existing = Reversal.objects.filter(requested_by=actor, key=key).first()
            if existing is not None:
                if existing.original_id != root.pk or existing.amount_fen != amount_fen:
                    raise InvalidInput(
                        "idempotency_key_reused",
                        _("This form was already used for another reversal. Reload the page."),
                    )
                return existing
        _check_reversible(root, amount_fen)
        needs_approval = reserved_fen(root) + amount_fen >= approval_threshold_fen()
        rev = Reversal.objects.create(
            reference=new_reference().replace("T", "R", 1),
            original=root,
            amount_fen=amount_fen,
            reason_code=reason_code,
            reason=reason,
            key=key,
            requested_by=actor,
            status=Reversal.Status.PENDING_APPROVAL if needs_approval else Reversal.Status.COMPLETED,
        )
        audit_log_write(
            actor=actor,
            action="payments.reversal_requested",
            obj=rev,
            request=request,
            details={
                "original": root.reference,
                "amount_fen": amount_fen,
                "reason_code": reason_code,
                "reason": reason,
                "needs_approval": needs_approval,
            },
        )
        if not needs_approval:
            _execute(rev, root=root, other=other, actor=actor, request=request)
    return _raise_if_failed(rev)


def reversal_from_channel(
    *, reference: str, amount_fen: int, refund_id: str, reason: str = "refund", channel: str = "sandbox"
) -> tuple[Reversal, bool]:
    """The payment channel reports that (part of) a posted deposit was refunded or charged back.

    The money has already left the channel's side, so this is a fact to book, not a request: no
    staff member, no four-eyes approval. The wallet is debited back to the channel's clearing
    account at once, or — when it no longer holds the money — nothing moves and an ops case
    (``reversal_blocked``) is opened, as for a staff reversal. Idempotent on the channel's refund
    number: a repeated notification returns the first reversal and ``False``."""
    amount_fen = check_amount_fen(amount_fen)
    refund_id = (refund_id or "")[:64]
    if not refund_id:
        raise InvalidInput("refund_id_required", _("The channel's refund number is missing."))
    reason_code = Reversal.Reason.CHARGEBACK if reason == "chargeback" else Reversal.Reason.CHANNEL_REFUND
    with transaction.atomic():
        root, other = _lock_original(reference)
        existing = Reversal.objects.filter(channel_refund_id=refund_id).first()
        if existing is not None:
            if existing.original_id != root.pk or existing.amount_fen != amount_fen:
                raise InvalidInput(
                    "refund_mismatch",
                    _("The channel reported this refund number before with other details."),
                    details={"refund_id": refund_id},
                )
            return existing, False
        if root.kind != Transaction.Kind.DEPOSIT:
            raise OkError("not_reversible", _("Only top-ups are refunded by the channel."), http_status=409)
        _check_reversible(root, amount_fen)
        rev = Reversal.objects.create(
            reference=_reversal_reference(),
            original=root,
            amount_fen=amount_fen,
            reason_code=reason_code,
            reason=f"{channel}: {reason_code} {refund_id}"[:500],
            requested_by=None,
            channel_refund_id=refund_id,
            status=Reversal.Status.COMPLETED,
        )
        audit_log_write(
            actor=None,
            action="payments.reversal_reported",
            obj=rev,
            details={
                "original": root.reference,
                "amount_fen": amount_fen,
                "reason_code": reason_code,
                "channel": channel,
                "refund_id": refund_id,
            },
        )
        _execute(rev, root=root, other=other, actor=None, request=None)
    return rev, True


def _reversal_reference() -> str:
    from okwallet.payments.services import new_reference

    return new_reference().replace("T", "R", 1)


def reversal_approve(*, reference: str, actor, note: str = "", request=None) -> Reversal:
    """A supervisor other than the requester approves: the reversal is made now (or fails on the
    balance, see ``reversal_request``)."""
    if not can_approve(actor):
        raise PermissionDenied("approval_not_permitted", _("Only supervisors approve reversals."))
    rev = access_reversal(reference)
    if rev.requested_by_id == actor.pk:
        raise PermissionDenied(
            "four_eyes_required", _("Another supervisor must approve a reversal you requested.")
        )
    with transaction.atomic():
        root, other = _lock_original(rev.original.reference)
        rev = Reversal.objects.select_for_update().get(pk=rev.pk)
        if rev.status != Reversal.Status.PENDING_APPROVAL:
            raise OkError(
                "reversal_not_pending", _("This reversal is no longer waiting for approval."), http_status=409
            )
        rev.decided_by = actor
        rev.decided_at = now_utc()
        rev.decision_note = " ".join((note or "").split())[:300]
        rev.status = Reversal.Status.COMPLETED
        rev.save(update_fields=["decided_by", "decided_at", "decision_note", "status"])
        audit_log_write(
            actor=actor,
            action="payments.reversal_approved",
            obj=rev,
            request=request,
            details={"original": root.reference, "amount_fen": rev.amount_fen, "note": rev.decision_note},
        )
        _execute(rev, root=root, other=other, actor=actor, request=request)
    return _raise_if_failed(rev)


def reversal_reject(*, reference: str, actor, note: str, request=None) -> Reversal:
    """A supervisor turns the request down; its amount is free again."""
    if not can_approve(actor):
        raise PermissionDenied("approval_not_permitted", _("Only supervisors approve reversals."))
    note = " ".join((note or "").split())[:300]
    if len(note) < 2:
        raise InvalidInput("decision_note_required", _("Say why the reversal is rejected."))
    rev = access_reversal(reference)
    with transaction.atomic():
        rev = Reversal.objects.select_for_update().get(pk=rev.pk)
        if rev.status != Reversal.Status.PENDING_APPROVAL:
            raise OkError(
                "reversal_not_pending", _("This reversal is no longer waiting for approval."), http_status=409
            )
        rev.status = Reversal.Status.REJECTED
        rev.decided_by = actor
        rev.decided_at = now_utc()
        rev.decision_note = note
        rev.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_log_write(
            actor=actor,
            action="payments.reversal_rejected",
            obj=rev,
            request=request,
            details={"original": rev.original.reference, "amount_fen": rev.amount_fen, "note": note},
        )
    return rev


def _raise_if_failed(rev: Reversal) -> Reversal:
    if rev.status == Reversal.Status.FAILED:
        if rev.failure_code == "insufficient_balance":
            message = _(
                "The wallet does not hold enough money for this reversal. Nothing was moved; an ops case was opened."
            )
        else:
            message = _(
                "The ledger refused this reversal (%(code)s). Nothing was moved; an ops case was opened."
            ) % {"code": rev.failure_code}
        raise OkError(
            "insufficient_balance" if rev.failure_code == "insufficient_balance" else "reversal_failed",
            message,
            http_status=409,
            details={"reversal": rev.reference, "ledger_result": rev.failure_code},
        )
    return rev


def _wallet_account_id(user) -> int:
    from okwallet.payments.services import wallet_ensure

    return wallet_ensure(user=user).account_id


def _execute(rev: Reversal, *, root: Transaction, other: Transaction | None, actor, request) -> None:
    """Move the money back with one new ledger transfer and write the records. Called inside the
    caller's transaction with ``root``/``other`` locked; ``rev.status`` is COMPLETED on entry and
    becomes FAILED when the ledger refuses (nothing moved)."""
    from okwallet.payments.services import _event, new_reference, system_account

    is_deposit = root.kind == Transaction.Kind.DEPOSIT
    debited_user = root.user if is_deposit else other.user
    debit_account_id = _wallet_account_id(debited_user)
    if is_deposit:
        credit_account_id = system_account("clearing", root.channel or "sandbox").pk
    else:
        credit_account_id = _wallet_account_id(root.user)
    ledger_key = f"rev:{rev.reference}"
    result = transfer_create(
        key=ledger_key,
        debit_account_id=debit_account_id,
        credit_account_id=credit_account_id,
        amount_fen=rev.amount_fen,
        code="reversal" if is_deposit else "refund",
        memo=f"{rev.reference} of {root.reference}",
    )
    if not result.ok:
        rev.status = Reversal.Status.FAILED
        rev.failure_code = (
            "insufficient_balance" if result.result == "exceeds_credits" else result.result[:40]
        )
        rev.save(update_fields=["status", "failure_code"])
        debited_record = root if is_deposit else other
        case = ReconciliationMismatch.objects.create(
            run=None,
            kind=ReconciliationMismatch.Kind.REVERSAL_BLOCKED,
            reference=root.reference,
            channel_ref=rev.reference,
            ours_fen=rev.amount_fen,
            transaction=debited_record,
            resolution_note="",
        )
        audit_log_write(
            actor=actor,
            action="payments.reversal_blocked",
            obj=rev,
            request=request,
            details={"original": root.reference, "ledger_result": result.result, "case": case.pk},
        )
        log.warning(
            "reversal %s of %s refused by the ledger: %s", rev.reference, root.reference, result.result
        )
        return

    now = now_utc()
    if is_deposit:
        debit_rec = Transaction.objects.create(
            reference=new_reference(),
            user=root.user,
            kind=Transaction.Kind.REVERSAL,
            amount_fen=rev.amount_fen,
            method=root.method,
            channel=root.channel,
            channel_ref=root.channel_ref,
            card=root.card,
            original=root,
            ledger_key=ledger_key,
            status=Transaction.Status.SUCCEEDED,
            settled_at=now,
        )
        credit_rec = None
        corrected = [(root, debit_rec)]
    else:
        # The payee gives back (a reversal of their transfer_in); the payer gets it (a refund).
        debit_rec = Transaction.objects.create(
            reference=new_reference(),
            user=other.user,
            kind=Transaction.Kind.REVERSAL,
            amount_fen=rev.amount_fen,
            method=Transaction.Method.WALLET,
            counterparty=root.user,
            original=other,
            ledger_key=ledger_key,
            status=Transaction.Status.SUCCEEDED,
            settled_at=now,
        )
        credit_rec = Transaction.objects.create(
            reference=new_reference(),
            user=root.user,
            kind=Transaction.Kind.REFUND,
            amount_fen=rev.amount_fen,
            method=Transaction.Method.WALLET,
            counterparty=other.user,
            original=root,
            counterpart_txn=debit_rec,
            ledger_key=ledger_key,
            status=Transaction.Status.SUCCEEDED,
            settled_at=now,
        )
        Transaction.objects.filter(pk=debit_rec.pk).update(counterpart_txn=credit_rec)
        corrected = [(root, credit_rec), (other, debit_rec)]
    for rec in (debit_rec, credit_rec):
        if rec is not None:
            _event(rec, TransactionEvent.Step.SUBMITTED, rev.reference)
            _event(rec, TransactionEvent.Step.SUCCEEDED)
    full = reversed_fen(root) >= root.amount_fen  # this reversal is COMPLETED already
    for original, record in corrected:
        _event(original, TransactionEvent.Step.REVERSED, f"{format_fen(rev.amount_fen)} · {record.reference}")
        if full:
            Transaction.objects.filter(pk=original.pk).update(
                status=Transaction.Status.REVERSED, updated_at=now
            )
    rev.debit_txn = debit_rec
    rev.credit_txn = credit_rec
    rev.completed_at = now
    rev.save(update_fields=["debit_txn", "credit_txn", "completed_at"])
    # An earlier attempt that the balance blocked is settled by this one.
    ReconciliationMismatch.objects.filter(
        kind=ReconciliationMismatch.Kind.REVERSAL_BLOCKED,
        reference=root.reference,
        status=ReconciliationMismatch.Status.OPEN,
    ).update(
        status=ReconciliationMismatch.Status.RESOLVED,
        resolution=ReconciliationMismatch.Resolution.REVERSED,
        resolution_note=f"reversed by {rev.reference}"[:300],
        resolved_by=actor,
        resolved_at=now,
    )
    audit_log_write(
        actor=actor,
        action="payments.reversal_completed",
        obj=rev,
        request=request,
        details={
            "original": root.reference,
            "amount_fen": rev.amount_fen,
            "records": [r.reference for r in (debit_rec, credit_rec) if r is not None],
            "full": full,
        },
    )
    _notify_customers(rev, root=root, other=other, debit_rec=debit_rec, credit_rec=credit_rec)


def _notify_customers(rev, *, root, other, debit_rec, credit_rec) -> None:
    """In each customer's own language (an agent's request carries the agent's)."""
    from okwallet.payments.services import _notify

    amount = format_fen(rev.amount_fen)

    def say(record, text_fn):
        with translation.override(getattr(record.user, "preferred_language", "") or "zh-hans"):
            _notify(record, text_fn())

    if credit_rec is None:
        say(
            debit_rec,
            lambda: (
                gettext(
                    "%(amount)s of your top-up %(ref)s was reversed (%(reason)s) and taken back from your wallet."
                )
                % {"amount": amount, "ref": root.reference, "reason": Reversal.Reason(rev.reason_code).label}
            ),
        )
        return
    say(
        debit_rec,
        lambda: (
            gettext(
                "%(amount)s of the transfer you received (ref. %(ref)s) was returned to the sender (%(reason)s)."
            )
            % {"amount": amount, "ref": other.reference, "reason": Reversal.Reason(rev.reason_code).label}
        ),
    )
    say(
        credit_rec,
        lambda: (
            gettext("%(amount)s of your transfer %(ref)s has been refunded to your wallet.")
            % {"amount": amount, "ref": root.reference}
        ),
    )
