"""Ledger services: accounts, the single-transfer path and the batch path.

Transfers are returned as ``TransferResult`` (a result code per transfer, TigerBeetle-style)
rather than raised, so a batch can report each transfer. ``raise_for_result`` turns a failure
into an ``OkError`` for callers that move one transfer at a time.
"""

from __future__ import annotations

from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import OkError
from okwallet.ledger.engine import (
    StaleRead,
    TransferIn,
    TransferResult,
    pg_call_prepared,
    pg_cursor,
    run_batch,
    run_batch_sealed,
)
from okwallet.ledger.models import CNY, Account, Transfer
from okwallet.ledger.results import message_for

SQL_DIR = Path(__file__).parent / "sql"

__all__ = [
    "TransferIn",
    "TransferResult",
    "account_create",
    "account_close",
    "transfer_create",
    "transfers_create",
    "pending_expire_due",
    "raise_for_result",
    "LedgerError",
]

_STATUS = {
    "debit_account_not_found": 404,
    "credit_account_not_found": 404,
    "pending_transfer_not_found": 404,
    "exceeds_credits": 409,
    "exceeds_debits": 409,
    "debit_account_already_closed": 409,
    "credit_account_already_closed": 409,
    "pending_transfer_already_posted": 409,
    "pending_transfer_already_voided": 409,
    "pending_transfer_expired": 409,
}


class LedgerError(OkError):
    code = "ledger_error"
    message = _("The transfer was not made.")
    http_status = 422


def raise_for_result(result: TransferResult) -> TransferResult:
    """Return a successful result (``ok`` or ``exists``); raise ``LedgerError`` for any other."""
    if result.ok:
        return result
    raise LedgerError(
        result.result,
        message_for(result.result),
        details={"key": result.key},
        http_status=_STATUS.get(result.result, 422),
    )


def account_create(
    *,
    code: str,
    ref: str | None = None,
    ledger: int = CNY,
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
) -> Account:
    """Create an account; idempotent on ``ref`` (the same ref returns the existing account)."""
    if debits_must_not_exceed_credits and credits_must_not_exceed_debits:
        raise LedgerError("flags_are_mutually_exclusive", _("An account limits debits or credits, not both."))
    if ref:
        existing = Account.objects.filter(ref=ref).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return Account.objects.create(
                code=code,
                ref=ref or None,
                ledger=ledger,
                debits_must_not_exceed_credits=debits_must_not_exceed_credits,
                credits_must_not_exceed_debits=credits_must_not_exceed_debits,
            )
    except IntegrityError:
        if ref:
            return Account.objects.get(ref=ref)
        raise


def account_close(*, account_id: int, closed: bool = True) -> Account:
    """Close (or reopen) an account: a closed account takes no new transfers; pending ones may still be
    voided or expire so reserved money is always released."""
    with transaction.atomic():
        acc = Account.objects.select_for_update().get(pk=account_id)
        acc.closed = closed
        acc.save(update_fields=["closed"])
    return acc


_PG_SINGLE = (
    "SELECT result, transfer_id FROM ledger_transfer_create(%s::text, %s::bigint, %s::bigint, %s::bigint, "
    "%s::integer, %s::text, %s::text, %s::text, %s::integer, %s::text)"
)
_PG_SINGLE_NAME = b"okw_ledger_transfer_create"
_PG_SINGLE_RAW = (
    b"SELECT result, transfer_id FROM ledger_transfer_create($1::text, $2::bigint, $3::bigint, $4::bigint, "
    b"$5::integer, $6::text, $7::text, $8::text, $9::integer, $10::text)"
)


def _pg_single(t: TransferIn, db) -> TransferResult:
    params = [
        t.key,
        t.debit_account_id,
        t.credit_account_id,
        t.amount_fen,
        t.ledger,
        t.code,
        t.kind,
        t.pending_key,
        t.timeout_seconds,
        t.memo,
    ]
    if not db.in_atomic_block and db.get_autocommit():
        # Its own transaction: the function call straight through libpq (prepared once per session).
        result, transfer_id = pg_call_prepared(db, _PG_SINGLE_NAME, _PG_SINGLE_RAW, params)
        return TransferResult(
            key=t.key,
            result=result.decode(),
            transfer_id=int(transfer_id) if transfer_id is not None else None,
        )
    # Inside the caller's transaction: a prepared statement on a server-side-binding cursor (like
    # pgbench -M prepared), parsed and planned once per connection.
    with pg_cursor(db) as cur:
        cur.execute(_PG_SINGLE, params, prepare=True)
        result, transfer_id = cur.fetchone()
    return TransferResult(key=t.key, result=result, transfer_id=transfer_id)


def _prevalidate(t: TransferIn) -> str | None:
    """What the SQL function cannot see: Python types and values outside BIGINT."""
    for value in (t.amount_fen,):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return "amount_not_integer"
    for value in (t.debit_account_id, t.credit_account_id):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63
        ):
            return "debit_account_not_found" if value is t.debit_account_id else "credit_account_not_found"
    if t.amount_fen is not None and abs(t.amount_fen) >= 2**63:
        return "amount_too_large" if t.amount_fen > 0 else "amount_must_be_positive"
    if not isinstance(t.timeout_seconds, int) or not 0 <= t.timeout_seconds < 2**31:
        return "timeout_reserved_for_pending_transfer"
    return None


def transfer_create(
    *,
    key: str,
    debit_account_id: int | None = None,
    credit_account_id: int | None = None,
    amount_fen: int | None = None,
    code: str = "",
    ledger: int = CNY,
    kind: str = "single",
    pending_key: str | None = None,
    timeout_seconds: int = 0,
    memo: str = "",
) -> TransferResult:
    """Create one transfer (``kind``: single, pending, post, void; ``expire`` is the timeout job's).

    On PostgreSQL this is one function call (one round trip; in autocommit it is its own
    transaction, inside an atomic block it joins the caller's). On SQLite it runs the portable
    engine in a write transaction. A repeated ``key`` with the same fields returns ``exists`` and
    the original id; with other fields an ``exists_with_different_*`` code. For ``post`` an
    ``amount_fen`` of None posts the full pending amount; less posts part and releases the rest.
    """
    t = TransferIn(
        key=key,
        debit_account_id=debit_account_id,
        credit_account_id=credit_account_id,
        amount_fen=amount_fen,
        code=code,
        ledger=ledger,
        kind=kind,
        pending_key=pending_key,
        timeout_seconds=timeout_seconds,
        memo=memo or "",
    )
    bad = _prevalidate(t)
    if bad:
        return TransferResult(key=key, result=bad)
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "postgresql":
        for attempt in range(3):
            try:
                if db.in_atomic_block:
                    with transaction.atomic():  # a savepoint: a key race must not poison the caller
                        return _pg_single(t, db)
                return _pg_single(t, db)
            except IntegrityError:
                # Two writers raced on the same new key (or pending resolution); the loser sees the
                # winner when it runs again.
                if attempt == 2:
                    raise
            except OperationalError as exc:
                # A deadlock is not expected (every writer locks accounts in id order before it
                # inserts a key) but is cheap to survive: the server aborts one side; run again.
                if attempt == 2 or not _is_deadlock(exc):
                    raise
    with transaction.atomic():
        return run_batch([t])[0]


def transfers_create(*, transfers: list[TransferIn]) -> list[TransferResult]:
    """Create many transfers in one database transaction (the high-throughput path).

    Each gets its own result; transfers with ``linked=True`` form a chain with the next one that
    succeeds or fails as a whole. Locks every account the batch touches, in id order (on
    PostgreSQL's first attempt after inserting the transfers: see ``run_batch``).
    """
    db = connections[DEFAULT_DB_ALIAS]
    sealed_tried = False
    if db.vendor == "postgresql" and not db.in_atomic_block and db.get_autocommit():
        # Outside the caller's transaction: BEGIN to COMMIT in one round trip when the batch
        # allows it (every transfer new and ok; see run_batch_sealed).
        try:
            sealed = run_batch_sealed(list(transfers))
        except StaleRead:
            sealed_tried = True
        else:
            if sealed is not None:
                return sealed
    for attempt in range(4):
        try:
            with transaction.atomic():
                # First optimistically (exact either way, see run_batch): as if every key were new,
                # on the accounts' last known state, locking them only for the balance UPDATE. A
                # reused key fails the INSERT, a concurrent change that alters a result raises
                # StaleRead; the next attempts look the keys up and lock the accounts first. (A
                # sealed attempt that did not stand was that optimistic attempt already.)
                first = attempt == 0 and not sealed_tried
                return run_batch(list(transfers), assume_new_keys=first, optimistic=first)
        except (IntegrityError, StaleRead):
            if attempt == 3:
                raise
        except OperationalError as exc:
            # Not expected (accounts are locked in id order before any key is inserted), but a
            # deadlock the server broke is retried like a stale read.
            if attempt == 3 or not _is_deadlock(exc):
                raise
    raise AssertionError("unreachable")


def _is_deadlock(exc: Exception) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


def pending_expire_due(*, limit: int = 1000) -> int:
    """Release pending transfers whose timeout has passed (the periodic job). Idempotent."""
    now = timezone.now()
    due = list(
        Transfer.objects.filter(kind="pending", timeout_at__lte=now)
        .exclude(id__in=Transfer.objects.filter(pending__isnull=False).values("pending_id"))
        .order_by("timeout_at")
        .values_list("id", "key")[:limit]
    )
    expired = 0
    for pid, pkey in due:
        result = transfer_create(key=f"expire:{pid}", kind="expire", pending_key=pkey, code="expired")
        expired += result.created
    return expired
