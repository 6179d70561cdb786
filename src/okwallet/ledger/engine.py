"""The portable transfer engine: evaluates transfers against locked account state in Python.

Used for every batch (on both databases) and for single transfers on SQLite. The rules and
their order are the same as the PostgreSQL function in ``sql/transfer_create.sql``; the test
suite runs the same cases through both.

Locking contract: ``run_batch`` must be called inside ``transaction.atomic``. It locks every
account the batch touches with ``SELECT ... FOR UPDATE`` ordered by id (on SQLite the write
transaction is already exclusive: ``BEGIN IMMEDIATE``), then reads the idempotency keys and
pending resolutions, so nothing it decides on can change before commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from okwallet.ledger.models import CNY, Account, Transfer

MAX_AMOUNT_FEN = 10**15
MAX_BALANCE = 2**63 - 1
KINDS = ("single", "pending", "post", "void", "expire")
RESOLVING = ("post", "void", "expire")


@dataclass(frozen=True)
class TransferIn:
    key: str
    debit_account_id: int | None = None
    credit_account_id: int | None = None
    amount_fen: int | None = None
    code: str = ""
    ledger: int = CNY
    kind: str = "single"
    pending_key: str | None = None
    timeout_seconds: int = 0
    linked: bool = False
    memo: str = ""


@dataclass(frozen=True)
class TransferResult:
    key: str
    result: str
    transfer_id: int | None = None

    @property
    def ok(self) -> bool:
        """The transfer exists now: made by this call (``ok``) or by an earlier one (``exists``)."""
        return self.result in ("ok", "exists")

    @property
    def created(self) -> bool:
        return self.result == "ok"


# Account state: [ledger, dmnec, cmned, closed, debits_pending, debits_posted, credits_pending, credits_posted]
L, DM, CM, CLOSED, DP, DPO, CP, CPO = range(8)


class _Rec:
    """An existing or newly created transfer, as the engine sees it."""

    __slots__ = (
        "id",
        "key",
        "debit",
        "credit",
        "amount",
        "ledger",
        "code",
        "kind",
        "pending_key",
        "timeout_seconds",
        "timeout_at",
        "linked",
        "memo",
        "new",
    )

    def __init__(self, **kw):
        self.id = None
        self.new = False
        for k, v in kw.items():
            setattr(self, k, v)


def _static_check(t: TransferIn) -> str | None:
    if not t.key:
        return "key_must_not_be_empty"
    if len(t.key) > 64:
        return "key_too_long"
    if t.kind not in KINDS:
        return "flags_are_mutually_exclusive"
    if t.amount_fen is not None and (isinstance(t.amount_fen, bool) or not isinstance(t.amount_fen, int)):
        return "amount_not_integer"
    if t.kind in RESOLVING:
        if not t.pending_key:
            return "pending_id_required"
        if t.timeout_seconds:
            return "timeout_reserved_for_pending_transfer"
        if t.amount_fen is not None and t.amount_fen <= 0:
            return "amount_must_be_positive"
        if t.amount_fen is not None and t.amount_fen > MAX_AMOUNT_FEN:
            return "amount_too_large"
        return None
    if t.pending_key:
        return "pending_id_must_be_empty"
    if t.kind == "single" and t.timeout_seconds:
        return "timeout_reserved_for_pending_transfer"
    if t.debit_account_id is not None and t.debit_account_id == t.credit_account_id:
        return "accounts_must_be_different"
    if t.amount_fen is None or t.amount_fen <= 0:
        return "amount_must_be_positive"
    if t.amount_fen > MAX_AMOUNT_FEN:
        return "amount_too_large"
    if not t.ledger:
        return "ledger_must_not_be_zero"
    if not t.code:
        return "code_must_not_be_empty"
    return None


class _Batch:
    def __init__(self, transfers: list[TransferIn], now):
        self.transfers = transfers
        self.now = now
        self.accounts: dict[int, list] = {}
        self.records: dict[str, _Rec] = {}  # key -> record (existing + new)
        self.resolved: dict[str, str] = {}  # pending key -> resolving kind
        self.touched: set[int] = set()
        self.undo: list | None = None

    # -- loading -------------------------------------------------------------
    def load(self) -> None:
        keys = {t.key for t in self.transfers if t.key}
        pending_keys = {t.pending_key for t in self.transfers if t.pending_key}
        pg = connection.vendor == "postgresql"
        if pg:  # raw SQL with = ANY(array): the ORM's IN (...) of 1,000 params costs more CPU than the query
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT t.id, t.key, t.debit_account_id, t.credit_account_id, t.amount_fen, t.ledger, t.code, "
                    "t.kind, p.key, t.timeout_seconds, t.timeout_at FROM ledger_transfer t "
                    "LEFT JOIN ledger_transfer p ON p.id = t.pending_id WHERE t.key = ANY(%s)",
                    [list(keys | pending_keys)],
                )
                rows = cur.fetchall()
        else:
            rows = list(
                Transfer.objects.filter(key__in=keys | pending_keys).values_list(
                    "id",
                    "key",
                    "debit_account_id",
                    "credit_account_id",
                    "amount_fen",
                    "ledger",
                    "code",
                    "kind",
                    "pending__key",
                    "timeout_seconds",
                    "timeout_at",
                )
            )
        for r in rows:
            self.records[r[1]] = _Rec(
                id=r[0],
                key=r[1],
                debit=r[2],
                credit=r[3],
                amount=r[4],
                ledger=r[5],
                code=r[6],
                kind=r[7],
                pending_key=r[8],
                timeout_seconds=r[9],
                timeout_at=r[10],
                linked=False,
                memo="",
            )
        account_ids = set()
        for t in self.transfers:
            for a in (t.debit_account_id, t.credit_account_id):
                if isinstance(a, int) and not isinstance(a, bool) and 0 < a < 2**63:
                    account_ids.add(a)
            if t.pending_key and t.pending_key in self.records:
                p = self.records[t.pending_key]
                account_ids.update((p.debit, p.credit))
        # In-batch pendings: their accounts are already in account_ids (they are batch members).
        columns = (
            "id, ledger, debits_must_not_exceed_credits, credits_must_not_exceed_debits, closed, "
            "debits_pending, debits_posted, credits_pending, credits_posted"
        )
        if pg:
            with connection.cursor() as cur:
                cur.execute(
                    f"SELECT {columns} FROM ledger_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE",  # noqa: S608  # nosec B608 - constant columns
                    [sorted(account_ids)],
                )
                account_rows = cur.fetchall()
        else:
            account_rows = (
                Account.objects.filter(id__in=account_ids)
                .order_by("id")
                .values_list(*[c.strip() for c in columns.split(",")])
            )
        for row in account_rows:
            self.accounts[row[0]] = list(row[1:])
        pending_ids = {self.records[k].id: k for k in pending_keys if k in self.records}
        if pending_ids:
            for pid, kind in Transfer.objects.filter(pending_id__in=list(pending_ids)).values_list(
                "pending_id", "kind"
            ):
                self.resolved[pending_ids[pid]] = kind

    # -- mutation with undo (linked chains) --------------------------------------
    def _set(self, account_id: int, field: int, value: int) -> None:
        acc = self.accounts[account_id]
        if self.undo is not None:
            self.undo.append(("acc", account_id, field, acc[field]))
        acc[field] = value
        self.touched.add(account_id)

    def _add_record(self, rec: _Rec) -> None:
        if self.undo is not None:
            self.undo.append(("rec", rec.key, self.records.get(rec.key)))
        self.records[rec.key] = rec

    def _resolve(self, pending_key: str, kind: str) -> None:
        if self.undo is not None:
            self.undo.append(("res", pending_key, self.resolved.get(pending_key)))
        self.resolved[pending_key] = kind

    def rollback(self) -> None:
        for entry in reversed(self.undo or []):
            if entry[0] == "acc":
                self.accounts[entry[1]][entry[2]] = entry[3]
            elif entry[0] == "rec":
                if entry[2] is None:
                    self.records.pop(entry[1], None)
                else:
                    self.records[entry[1]] = entry[2]
            else:
                if entry[2] is None:
                    self.resolved.pop(entry[1], None)
                else:
                    self.resolved[entry[1]] = entry[2]

    # -- rules -------------------------------------------------------------------
    def apply(self, t: TransferIn) -> tuple[str, int | None]:
        code = _static_check(t)
        if code:
            return code, None
        if t.kind in RESOLVING:
            return self._apply_resolution(t)
        dr = self.accounts.get(t.debit_account_id)
        cr = self.accounts.get(t.credit_account_id)
        if dr is None:
            return "debit_account_not_found", None
        if cr is None:
            return "credit_account_not_found", None
        if dr[L] != cr[L]:
            return "accounts_must_have_the_same_ledger", None
        if t.ledger != dr[L]:
            return "transfer_must_have_the_same_ledger_as_accounts", None
        e = self.records.get(t.key)
        if e is not None:
            return self._exists(t, e)
        if dr[CLOSED]:
            return "debit_account_already_closed", None
        if cr[CLOSED]:
            return "credit_account_already_closed", None
        amount = t.amount_fen
        if dr[DP] + dr[DPO] + amount > MAX_BALANCE:
            return "overflows_debits", None
        if cr[CP] + cr[CPO] + amount > MAX_BALANCE:
            return "overflows_credits", None
        if dr[DM] and dr[DP] + dr[DPO] + amount > dr[CPO]:
            return "exceeds_credits", None
        if cr[CM] and cr[CP] + cr[CPO] + amount > cr[DPO]:
            return "exceeds_debits", None
        pending = t.kind == "pending"
        self._set(t.debit_account_id, DP if pending else DPO, dr[DP if pending else DPO] + amount)
        self._set(t.credit_account_id, CP if pending else CPO, cr[CP if pending else CPO] + amount)
        self._add_record(
            _Rec(
                key=t.key,
                debit=t.debit_account_id,
                credit=t.credit_account_id,
                amount=amount,
                ledger=t.ledger,
                code=t.code,
                kind=t.kind,
                pending_key=None,
                timeout_seconds=t.timeout_seconds,
                timeout_at=self.now + timedelta(seconds=t.timeout_seconds) if t.timeout_seconds else None,
                linked=t.linked,
                memo=t.memo[:200],
                new=True,
            )
        )
        return "ok", None

    def _exists(self, t: TransferIn, e: _Rec) -> tuple[str, int | None]:
        if e.kind != t.kind:
            return "exists_with_different_kind", None
        if t.kind in RESOLVING:
            if e.pending_key != t.pending_key:
                return "exists_with_different_pending_id", None
            if t.debit_account_id is not None and t.debit_account_id != e.debit:
                return "exists_with_different_debit_account_id", None
            if t.credit_account_id is not None and t.credit_account_id != e.credit:
                return "exists_with_different_credit_account_id", None
            if t.amount_fen is not None and t.amount_fen != e.amount:
                return "exists_with_different_amount", None
            if t.code and t.code != e.code:
                return "exists_with_different_code", None
            return "exists", e.id
        if t.debit_account_id != e.debit:
            return "exists_with_different_debit_account_id", None
        if t.credit_account_id != e.credit:
            return "exists_with_different_credit_account_id", None
        if t.amount_fen != e.amount:
            return "exists_with_different_amount", None
        if t.code != e.code:
            return "exists_with_different_code", None
        if t.timeout_seconds != e.timeout_seconds:
            return "exists_with_different_timeout", None
        return "exists", e.id

    def _apply_resolution(self, t: TransferIn) -> tuple[str, int | None]:
        p = self.records.get(t.pending_key)
        if p is None:
            return "pending_transfer_not_found", None
        if p.kind != "pending":
            return "pending_transfer_not_pending", None
        e = self.records.get(t.key)
        if e is not None:
            return self._exists(t, e)
        if t.debit_account_id is not None and t.debit_account_id != p.debit:
            return "pending_transfer_has_different_debit_account_id", None
        if t.credit_account_id is not None and t.credit_account_id != p.credit:
            return "pending_transfer_has_different_credit_account_id", None
        if t.kind != "post" and t.amount_fen is not None and t.amount_fen != p.amount:
            return "pending_transfer_has_different_amount", None
        if t.kind == "post" and t.amount_fen is not None and t.amount_fen > p.amount:
            return "exceeds_pending_transfer_amount", None
        done = self.resolved.get(p.key)
        if done == "post":
            return "pending_transfer_already_posted", None
        if done == "void":
            return "pending_transfer_already_voided", None
        if done == "expire":
            return "pending_transfer_expired", None
        expired = p.timeout_at is not None and p.timeout_at <= self.now
        if t.kind in ("post", "void") and expired:
            return "pending_transfer_expired", None
        if t.kind == "expire" and not expired:
            return "pending_transfer_not_expired", None
        dr = self.accounts[p.debit]
        cr = self.accounts[p.credit]
        if t.kind == "post":
            if dr[CLOSED]:
                return "debit_account_already_closed", None
            if cr[CLOSED]:
                return "credit_account_already_closed", None
        amount = t.amount_fen if (t.kind == "post" and t.amount_fen is not None) else p.amount
        self._set(p.debit, DP, dr[DP] - p.amount)
        self._set(p.credit, CP, cr[CP] - p.amount)
        if t.kind == "post":
            self._set(p.debit, DPO, dr[DPO] + amount)
            self._set(p.credit, CPO, cr[CPO] + amount)
        self._resolve(p.key, t.kind)
        self._add_record(
            _Rec(
                key=t.key,
                debit=p.debit,
                credit=p.credit,
                amount=amount,
                ledger=p.ledger,
                code=t.code or p.code,
                kind=t.kind,
                pending_key=p.key,
                timeout_seconds=0,
                timeout_at=None,
                linked=t.linked,
                memo=t.memo[:200],
                new=True,
            )
        )
        return "ok", None

    # -- the batch ---------------------------------------------------------------
    def run(self) -> list[list]:
        results: list[list] = [[t.key, "", None] for t in self.transfers]
        i, n = 0, len(self.transfers)
        while i < n:
            t = self.transfers[i]
            if not t.linked:
                code, tid = self.apply(t)
                results[i][1:] = [code, tid]
                i += 1
                continue
            # A linked chain runs to the first transfer without ``linked``.
            j = i
            while j < n and self.transfers[j].linked:
                j += 1
            if j == n:  # chain never closed
                for k in range(i, n):
                    results[k][1] = "linked_event_failed"
                results[n - 1][1] = "linked_event_chain_open"
                break
            self.undo = []
            failed_at = None
            for k in range(i, j + 1):
                code, tid = self.apply(self.transfers[k])
                results[k][1:] = [code, tid]
                if code not in ("ok", "exists"):
                    failed_at = k
                    break
            if failed_at is not None:
                self.rollback()
                for k in range(i, j + 1):
                    if k != failed_at:
                        results[k][1:] = ["linked_event_failed", None]
            self.undo = None
            i = j + 1
        return results

    def write(self, results: list[list]) -> None:
        new = [r for r in self.records.values() if r.new]
        if not new:
            return
        # A batch that only repeats earlier transfers writes nothing.
        first = [r for r in new if r.pending_key is None]
        second = [r for r in new if r.pending_key is not None]
        for group in (first, second):
            if not group:
                continue
            if connection.vendor == "postgresql":
                self._pg_insert(group)
                continue
            objs = [
                Transfer(
                    key=r.key,
                    debit_account_id=r.debit,
                    credit_account_id=r.credit,
                    amount_fen=r.amount,
                    ledger=r.ledger,
                    code=r.code,
                    kind=r.kind,
                    pending_id=self.records[r.pending_key].id if r.pending_key else None,
                    timeout_seconds=r.timeout_seconds,
                    timeout_at=r.timeout_at,
                    linked=r.linked,
                    memo=r.memo,
                    created_at=self.now,
                )
                for r in group
            ]
            Transfer.objects.bulk_create(objs, batch_size=1000)
            for r, o in zip(group, objs, strict=True):
                r.id = o.pk
        for res in results:
            if res[1] in ("ok", "exists") and res[2] is None:
                res[2] = self.records[res[0]].id
        self._write_accounts()

    def _pg_insert(self, group: list[_Rec]) -> None:
        """One INSERT ... SELECT FROM unnest(...) per group: the ORM's bulk_create spends far more
        client CPU building 1,000 rows than the server spends inserting them."""
        cols = list(
            zip(
                *(
                    (
                        r.key,
                        r.debit,
                        r.credit,
                        r.amount,
                        r.ledger,
                        r.code,
                        r.kind,
                        self.records[r.pending_key].id if r.pending_key else None,
                        r.timeout_seconds,
                        r.timeout_at,
                        r.linked,
                        r.memo,
                    )
                    for r in group
                ),
                strict=True,
            )
        )
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO ledger_transfer (key, debit_account_id, credit_account_id, amount_fen, ledger, code, kind, "
                "pending_id, timeout_seconds, timeout_at, linked, memo, created_at) "
                "SELECT k, d, c, a, l, co, ki, p, ts, ta, li, m, %s FROM unnest(%s::text[], %s::bigint[], %s::bigint[], "
                "%s::bigint[], %s::integer[], %s::text[], %s::text[], %s::bigint[], %s::integer[], %s::timestamptz[], "
                "%s::boolean[], %s::text[]) AS v(k, d, c, a, l, co, ki, p, ts, ta, li, m) RETURNING id, key",
                [self.now, *[list(c) for c in cols]],
            )
            ids = dict((key, pk) for pk, key in cur.fetchall())
        for r in group:
            r.id = ids[r.key]

    def _write_accounts(self) -> None:
        ids = sorted(self.touched)
        if not ids:
            return
        cols = [[self.accounts[a][f] for a in ids] for f in (DP, DPO, CP, CPO)]
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute(
                    "UPDATE ledger_account AS a SET debits_pending = v.dp, debits_posted = v.dpo, "
                    "credits_pending = v.cp, credits_posted = v.cpo FROM unnest(%s::bigint[], %s::bigint[], "
                    "%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, dp, dpo, cp, cpo) WHERE a.id = v.id",
                    [ids, *cols],
                )
            return
        with connection.cursor() as cur:
            cur.executemany(
                "UPDATE ledger_account SET debits_pending = %s, debits_posted = %s, credits_pending = %s, "
                "credits_posted = %s WHERE id = %s",
                [(cols[0][k], cols[1][k], cols[2][k], cols[3][k], a) for k, a in enumerate(ids)],
            )


def run_batch(transfers: list[TransferIn]) -> list[TransferResult]:
    """Evaluate and write a batch. Call inside ``transaction.atomic``."""
    batch = _Batch(transfers, timezone.now())
    batch.load()
    results = batch.run()
    batch.write(results)
    return [TransferResult(key=r[0], result=r[1], transfer_id=r[2]) for r in results]
