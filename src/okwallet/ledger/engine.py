"""The portable transfer engine: evaluates transfers against locked account state in Python.

Used for every batch (on both databases) and for single transfers on SQLite. The rules and
their order are the same as the PostgreSQL function in ``sql/transfer_create.sql``; the test
suite runs the same cases through both.

Locking contract: ``run_batch`` must be called inside ``transaction.atomic``. Locking first (SQLite,
and PostgreSQL's retries): it reads the idempotency keys (the batch's and the pending transfers'
it resolves), then locks every account the batch touches with ``SELECT ... FOR NO KEY UPDATE``
ordered by id (on SQLite the write transaction is already exclusive: ``BEGIN IMMEDIATE``), then
reads the pending resolutions; the balances it decides on cannot change before commit, and a key
another writer inserts meanwhile makes the INSERT fail on the unique index (the service retries
the batch). Optimistic (PostgreSQL's first attempt): it decides on the accounts' last known state,
inserts, then locks in the same id order and checks that what it decided still holds on the
locked state (``run_batch`` has the argument).

On PostgreSQL the statements go through ``pg_cursor`` (prepared, parameters bound server-side)
with array parameters as literals (``_pg_ints`` ...): see docs/benchmarks.md (Ledger) for what
each part of a batch costs.
"""

from __future__ import annotations

import operator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from operator import itemgetter, sub
from typing import NamedTuple

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    DataError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone

from okwallet.ledger.models import CNY, Account, Transfer

MAX_AMOUNT_FEN = 10**15
MAX_BALANCE = 2**63 - 1
KINDS = ("single", "pending", "post", "void", "expire")
RESOLVING = ("post", "void", "expire")


class TransferIn(NamedTuple):
    """A transfer to create. A named tuple (immutable, keyword-constructed like the frozen
    dataclass it was): a batch producer makes 1,000 per batch, and a frozen dataclass's
    ``__init__`` sets each of the 11 fields through ``object.__setattr__`` (~3 ms per batch)."""

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


class TransferResult(NamedTuple):
    """A named tuple, not a dataclass: a batch makes 1,000, and a frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__`` (~1.4 ms per batch)."""

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


@contextmanager
def pg_cursor(db=None):
    """A psycopg cursor with server-side binding on Django's connection (PostgreSQL only).

    Django's own cursor is a ``ClientCursor``: it inlines every parameter into the SQL text and
    never prepares. Here parameters travel apart from the SQL and ``prepare=True`` statements are
    parsed and planned once per connection (settings: ``prepare_threshold``). Errors are still
    Django's (``IntegrityError`` ...), and the cursor joins the caller's transaction if any.
    ``db``: the thread's ``DatabaseWrapper`` if the caller already has it (each access through
    ``django.db.connection`` is a thread-local lookup, ~1 us, which the single path feels).
    """
    db = db or connections[DEFAULT_DB_ALIAS]
    db.validate_no_broken_transaction()
    db.ensure_connection()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cur:
        yield cur


def _pg_text(value) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, int):  # bool too, as the cursor path binds it (True -> 1)
        return str(int(value)).encode()
    return str(value).encode()


def pg_call_prepared(db, name: bytes, sql: bytes, params: list) -> tuple | None:
    """Run a named prepared statement on an idle autocommit connection straight through libpq
    and return its first row (text values, ``None`` for NULL); prepares it on first use.

    The single-transfer path's only round trip, ~20 us of Python cheaper than a psycopg cursor
    (which builds a query object, a transformer and a result set each call); with 32 client
    threads sharing one interpreter that is a tenth of the client's CPU per transfer. Only for
    autocommit (``BEGIN`` is psycopg's business inside a transaction: callers use ``pg_cursor``
    there). Errors are raised as Django's, like from any cursor.
    """
    from psycopg import errors, pq

    db.ensure_connection()
    pgconn = db.connection.pgconn
    values = [_pg_text(v) for v in params]
    with db.wrap_database_errors:
        for _attempt in range(2):
            res = pgconn.exec_prepared(name, values)
            if res.status == pq.ExecStatus.TUPLES_OK:
                if not res.ntuples:
                    return None
                return tuple(res.get_value(0, i) for i in range(res.nfields))
            if res.error_field(pq.DiagnosticField.SQLSTATE) == b"26000":  # not prepared on this session yet
                prep = pgconn.prepare(name, sql)
                if prep.status != pq.ExecStatus.COMMAND_OK:
                    raise errors.error_from_result(prep)
                continue
            raise errors.error_from_result(res)
    raise AssertionError("unreachable")


# Array parameters as PostgreSQL array literals built with str.join (C speed). psycopg adapts a
# list parameter element by element in Python (~0.7 ms per 1,000 elements in either format), and a
# batch sends ~20 such arrays: that was most of the batch's client CPU. They are still bound
# parameters (never SQL text); the server casts them (``%s::bigint[]``).
def _pg_ints(values) -> str:
    if None in values:
        return "{" + ",".join(["NULL" if v is None else str(operator.index(v)) for v in values]) + "}"
    return "{" + ",".join(map(str, map(operator.index, values))) + "}"


def _pg_texts(values) -> str:
    if not values:
        return "{}"
    probe = "".join(values)  # every element is quoted; only quotes and backslashes need escaping
    if '"' not in probe and "\\" not in probe:
        return '{"' + '","'.join(values) + '"}'
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]) + "}"


def _pg_bools(values) -> str:
    return "{" + ",".join(["t" if v else "f" for v in values]) + "}"


def _pg_times(values) -> str:
    return "{" + ",".join(["NULL" if v is None else '"' + v.isoformat() + '"' for v in values]) + "}"


_ACCOUNT_COLUMNS = (
    "id",
    "ledger",
    "debits_must_not_exceed_credits",
    "credits_must_not_exceed_debits",
    "closed",
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
)
# One index probe per id, in the order of the (sorted) array: a LATERAL subquery with OFFSET 0
# cannot be flattened, so the plan is a nested loop driven by the array, and the row locks are
# taken in id order, the lock order of every writer. (A plain join let the planner hash all of a
# small table, 9 ms instead of 5 for 1,800 of 10,000 accounts, and an UPDATE's join may visit rows
# in any order: that is why the accounts are locked here first, except by a sealed batch, whose
# transaction leaves its UPDATE only the id-ordered plan, _PG_SEALED_PLAN.) Not "id = ANY(array)":
# a row another writer holds is re-checked after its commit (EvalPlanQual), and with ANY that recheck
# scans the whole array, ~1,800 comparisons per contended row between two uniform writers. Here
# and below, unnest in a select list (ProjectSet) rather than in FROM (a function scan, which
# first copies every row into a tuplestore).
_PG_ACCOUNTS = (
    "SELECT a.* FROM (SELECT unnest(%s::bigint[]) AS id) v CROSS JOIN LATERAL "
    "(SELECT a.id, a.ledger, a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits, a.closed, "
    "a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted "
    "FROM ledger_account a WHERE a.id = v.id OFFSET 0"
)
_PG_ACCOUNTS_LOCKED = _PG_ACCOUNTS + " FOR NO KEY UPDATE) a"
_PG_ACCOUNTS += ") a"
# A sealed batch's UPDATE locks its accounts itself (no separate locking read: with two writers on
# overlapping accounts that read and its per-row lock records were most of the time the locks were
# held), and it must take them in id order, the lock order of every writer. Its transaction rules
# out every plan but a nested loop driven by the sorted array with one index probe per id: a hash
# or merge join, or a sequential scan, may hand rows to the UPDATE in another order (and a merge
# join reads the whole index: 10 ms instead of 6 for 2,000 of 10,000 accounts, EXPLAIN ANALYZE).
_PG_SEALED_PLAN = (
    "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), "
    "set_config('enable_seqscan', 'off', true)"
)


class StaleRead(Exception):  # noqa: N818 - a signal, not an error: the service retries the batch
    """An optimistic batch found, once the accounts were locked, that another writer had changed
    them in a way that changes this batch's results: roll back and run it the locking way."""


# Account state: [ledger, dmnec, cmned, closed, debits_pending, debits_posted, credits_pending, credits_posted]
L, DM, CM, CLOSED, DP, DPO, CP, CPO = range(8)
_CHANGED_FIELDS = (itemgetter(DP), itemgetter(DPO), itemgetter(CP), itemgetter(CPO))
_FIRST = itemgetter(0)


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

    def __init__(
        self,
        key,
        debit,
        credit,
        amount,
        ledger,
        code,
        kind,
        pending_key,
        timeout_seconds,
        timeout_at,
        linked,
        memo,
    ):
        # Positional, no **kw/setattr loop: one record per transfer, 1,000 per batch.
        self.id = None
        self.new = False
        self.key = key
        self.debit = debit
        self.credit = credit
        self.amount = amount
        self.ledger = ledger
        self.code = code
        self.kind = kind
        self.pending_key = pending_key
        self.timeout_seconds = timeout_seconds
        self.timeout_at = timeout_at
        self.linked = linked
        self.memo = memo


def _static_check(t: TransferIn) -> str | None:
    key, kind, amount = t.key, t.kind, t.amount_fen  # once each: this runs for every transfer
    if not key:
        return "key_must_not_be_empty"
    if len(key) > 64:
        return "key_too_long"
    if kind not in KINDS:
        return "flags_are_mutually_exclusive"
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        return "amount_not_integer"
    if kind in RESOLVING:
        if not t.pending_key:
            return "pending_id_required"
        if t.timeout_seconds:
            return "timeout_reserved_for_pending_transfer"
        if amount is not None and amount <= 0:
            return "amount_must_be_positive"
        if amount is not None and amount > MAX_AMOUNT_FEN:
            return "amount_too_large"
        return None
    if t.pending_key:
        return "pending_id_must_be_empty"
    if kind == "single" and t.timeout_seconds:
        return "timeout_reserved_for_pending_transfer"
    debit = t.debit_account_id
    if debit is not None and debit == t.credit_account_id:
        return "accounts_must_be_different"
    if amount is None or amount <= 0:
        return "amount_must_be_positive"
    if amount > MAX_AMOUNT_FEN:
        return "amount_too_large"
    if not t.ledger:
        return "ledger_must_not_be_zero"
    if not t.code:
        return "code_must_not_be_empty"
    return None


class _Batch:
    def __init__(self, transfers: list[TransferIn], now, *, assume_new_keys: bool = False):
        self.transfers = transfers
        self.now = now
        # Skip the up-front lookup of the batch's own keys (PostgreSQL's first attempt): see
        # run_batch for why the results still come out as if the lookup had been made.
        self.assume_new_keys = assume_new_keys
        self.account_ids: list[int] = []
        self.read_state: dict[int, tuple] = {}  # accounts as read, before run() changed them
        self.accounts: dict[int, list] = {}
        self.loaded_records: dict[str, _Rec] = {}
        self.loaded_resolved: dict[str, str] = {}
        self.records: dict[str, _Rec] = {}  # key -> record (existing + new)
        self.resolved: dict[str, str] = {}  # pending key -> resolving kind
        self.touched: set[int] = set()
        self.undo: list | None = None
        self.locked_fine = False  # see certain_on_locked

    # -- loading -------------------------------------------------------------
    def load(self, *, lock: bool = True, cache: _AccountCache | None = None) -> None:
        keys = set() if self.assume_new_keys else {t.key for t in self.transfers if t.key}
        pending_keys = {t.pending_key for t in self.transfers if t.pending_key}
        pg = connection.vendor == "postgresql"
        if not keys and not pending_keys:
            rows = []
        elif (
            pg
        ):  # raw SQL with = ANY(array): the ORM's IN (...) of 1,000 params costs more CPU than the query
            with pg_cursor() as cur:
                cur.execute(
                    "SELECT t.id, t.key, t.debit_account_id, t.credit_account_id, t.amount_fen, t.ledger, t.code, "
                    "t.kind, p.key, t.timeout_seconds, t.timeout_at FROM ledger_transfer t "
                    "LEFT JOIN ledger_transfer p ON p.id = t.pending_id WHERE t.key = ANY(%s::text[])",
                    [_pg_texts(list(keys | pending_keys))],
                    prepare=True,
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
            rec = _Rec(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], False, "")
            rec.id = r[0]
            self.records[r[1]] = rec
        # Every distinct id first (C-level set building), then the few distinct values checked.
        candidates = {t.debit_account_id for t in self.transfers}
        candidates.update([t.credit_account_id for t in self.transfers])
        account_ids = {
            a
            for a in candidates
            if (type(a) is int or (isinstance(a, int) and not isinstance(a, bool))) and 0 < a < 2**63
        }
        for k in pending_keys:
            p = self.records.get(k)
            if p is not None:
                account_ids.update((p.debit, p.credit))
        # In-batch pendings: their accounts are already in account_ids (they are batch members).
        account_ids = sorted(account_ids)
        self.account_ids = account_ids
        if cache is not None and not lock:
            self.read_state, missing = cache.lookup(account_ids)
            if missing:
                self.read_state.update(self.read_accounts(lock=False, ids=missing))
        else:
            self.read_state = self.read_accounts(lock=lock)
        self.accounts = dict(zip(self.read_state, map(list, self.read_state.values()), strict=True))
        pending_ids = {self.records[k].id: k for k in pending_keys if k in self.records}
        if pending_ids:
            for pid, kind in Transfer.objects.filter(pending_id__in=list(pending_ids)).values_list(
                "pending_id", "kind"
            ):
                self.resolved[pending_ids[pid]] = kind
        self.loaded_records = dict(self.records)
        self.loaded_resolved = dict(self.resolved)

    def rerun(self, state: dict[int, tuple]) -> tuple[_Batch, list[list]]:
        """The same batch evaluated again on other account state (what the locks found)."""
        other = _Batch(self.transfers, self.now)
        other.records = dict(self.loaded_records)
        other.resolved = dict(self.loaded_resolved)
        other.account_ids = self.account_ids
        other.read_state = state
        other.accounts = {a: list(v) for a, v in state.items()}
        return other, other.run()

    def read_accounts(self, *, lock: bool, ids: list[int] | None = None) -> dict[int, tuple]:
        """The batch's accounts (or ``ids``) by id: state tuples in the order ``L, DM, ..., CPO``."""
        ids = self.account_ids if ids is None else ids
        if connection.vendor == "postgresql":
            with pg_cursor() as cur:
                cur.execute(_PG_ACCOUNTS_LOCKED if lock else _PG_ACCOUNTS, [_pg_ints(ids)], prepare=True)
                rows = cur.fetchall()
        else:  # SQLite: the write transaction (BEGIN IMMEDIATE) already excludes other writers
            rows = Account.objects.filter(id__in=ids).order_by("id").values_list(*_ACCOUNT_COLUMNS)
        return {row[0]: row[1:] for row in rows}

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
        kind = t.kind
        if kind in RESOLVING:
            return self._apply_resolution(t)
        debit, credit = t.debit_account_id, t.credit_account_id
        dr = self.accounts.get(debit)
        cr = self.accounts.get(credit)
        if dr is None:
            return "debit_account_not_found", None
        if cr is None:
            return "credit_account_not_found", None
        ledger = dr[L]
        if ledger != cr[L]:
            return "accounts_must_have_the_same_ledger", None
        if t.ledger != ledger:
            return "transfer_must_have_the_same_ledger_as_accounts", None
        e = self.records.get(t.key)
        if e is not None:
            return self._exists(t, e)
        if dr[CLOSED]:
            return "debit_account_already_closed", None
        if cr[CLOSED]:
            return "credit_account_already_closed", None
        amount = t.amount_fen
        debits = dr[DP] + dr[DPO] + amount
        credits = cr[CP] + cr[CPO] + amount
        if debits > MAX_BALANCE:
            return "overflows_debits", None
        if credits > MAX_BALANCE:
            return "overflows_credits", None
        if dr[DM] and debits > dr[CPO]:
            return "exceeds_credits", None
        if cr[CM] and credits > cr[DPO]:
            return "exceeds_debits", None
        df, cf = (DP, CP) if kind == "pending" else (DPO, CPO)
        timeout = t.timeout_seconds
        rec = _Rec(
            t.key,
            debit,
            credit,
            amount,
            t.ledger,
            t.code,
            kind,
            None,
            timeout,
            self.now + timedelta(seconds=timeout) if timeout else None,
            t.linked,
            t.memo[:200],
        )
        rec.new = True
        if self.undo is None:  # outside a linked chain: nothing to roll back (the common case)
            dr[df] += amount
            cr[cf] += amount
            self.touched.add(debit)
            self.touched.add(credit)
            self.records[rec.key] = rec
        else:
            self._set(debit, df, dr[df] + amount)
            self._set(credit, cf, cr[cf] + amount)
            self._add_record(rec)
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
        rec = _Rec(
            t.key,
            p.debit,
            p.credit,
            amount,
            p.ledger,
            t.code or p.code,
            t.kind,
            p.key,
            0,
            None,
            t.linked,
            t.memo[:200],
        )
        rec.new = True
        self._add_record(rec)
        return "ok", None

    # -- the batch ---------------------------------------------------------------
    def run(self) -> list[list]:
        results: list[list] = [[t.key, "", None] for t in self.transfers]
        i, n = 0, len(self.transfers)
        while i < n:
            t = self.transfers[i]
            if not t.linked:
                res = results[i]
                res[1], res[2] = self.apply(t)
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

    def write(self, results: list[list], *, balances: bool = True) -> None:
        """Insert the new transfers and, with ``balances``, write the touched accounts (on
        PostgreSQL in the same statement as the last INSERT)."""
        groups = self._new_groups()
        if not groups:  # a batch that only repeats earlier transfers writes nothing
            return
        if connection.vendor == "postgresql":
            for n, group in enumerate(groups, 1):
                self._pg_insert(group, with_balances=balances and n == len(groups))
        else:
            for group in groups:
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
            if balances:
                self._sqlite_write_accounts()
        self._fill_ids(results)

    def _new_groups(self) -> list[list[_Rec]]:
        """The new transfers in INSERT order: resolutions of pendings come after the pendings,
        whose ids they need."""
        new = [r for r in self.records.values() if r.new]
        first = [r for r in new if r.pending_key is None]
        second = [r for r in new if r.pending_key is not None]
        return [g for g in (first, second) if g]

    def _fill_ids(self, results: list[list]) -> None:
        for res in results:
            if res[1] in ("ok", "exists") and res[2] is None:
                res[2] = self.records[res[0]].id

    def changes(self, ids: list[int]) -> list[list[int]]:
        """What this evaluation added to ``ids``' DP, DPO, CP and CPO: four columns (map and
        itemgetter, C loops: a comprehension over 2,000 accounts x 4 fields cost ~4 ms)."""
        after = [self.accounts[a] for a in ids]
        before = [self.read_state[a] for a in ids]
        return [list(map(sub, map(get, after), map(get, before))) for get in _CHANGED_FIELDS]

    def certain_on_locked(self, results: list[list]) -> bool:
        """Whether every result is certain to come out the same on the state the locks found,
        without evaluating again: the batch's transfers are all new single or pending transfers
        that came out ``ok``, and the server found every account still able to take all of them
        (``_PG_ADD_BALANCES_FINE``). False means "evaluate again to know".

        For such a batch only ``closed`` and the balance limits could change a result (ledger and
        the limit flags never change after an account is created). Each limit is checked in its
        worst case, every debit of the batch before any of its credits: with slack = credits
        posted - debits (pending and posted) of a ``debits_must_not_exceed_credits`` account,
        each prefix check passes on the locked state if the locked slack covers all the batch's
        debits of that account (likewise for the opposite flag); the overflow checks are at their
        worst on the final totals. Two writers miss each other's changes in their caches, so this
        saves a second evaluation (~6 ms, with the accounts locked) on nearly every batch."""
        return self.locked_fine and self.all_new_and_ok(results)

    def all_new_and_ok(self, results: list[list]) -> bool:
        """Every transfer is a single or pending one that came out ``ok``: a batch that only the
        balance limits and ``closed`` could change (``certain_on_locked``, ``run_batch_sealed``)."""
        return all(r[1] == "ok" for r in results) and all(
            t.kind in ("single", "pending") for t in self.transfers
        )

    def insert_lock_apply(self, results: list[list]) -> dict[int, tuple]:
        """PostgreSQL, optimistic: lock and read the accounts (id order), INSERT the new transfers,
        and add this evaluation's balance changes to them, in one round trip when there is one
        INSERT (a pipeline: the server runs the three back to back). Changes, not values: if the
        locked state differs from the one evaluated on but every result stays the same, the
        changes are the same too and what was added is right. Returns the locked state (before
        the changes)."""
        groups = self._new_groups()
        ids = sorted(self.touched)
        columns = [_pg_ints(ids)] + [_pg_ints(d) for d in self.changes(ids)]
        db = connections[DEFAULT_DB_ALIAS]
        if len(groups) > 1:  # a pending resolved in its own batch: the second INSERT needs ids
            self.write(results, balances=False)
            groups = []
        with pg_cursor(db) as insert, pg_cursor(db) as lock, pg_cursor(db) as apply:
            with db.connection.pipeline():
                # Accounts locked before the new keys are inserted: the order of the single path
                # and of lock-first batches, so a writer never holds a new key while it waits for
                # an account another writer holds while waiting for that key (a deadlock). The
                # UPDATE cannot lock them itself: its join may visit rows in any order.
                lock.execute(_PG_ACCOUNTS_LOCKED, [_pg_ints(self.account_ids)], prepare=True)
                if groups:
                    self._pg_insert_send(groups[0], insert, with_balances=False)
                if ids:
                    apply.execute(self._PG_ADD_BALANCES_FINE, columns, prepare=True)
            if groups:
                self._pg_insert_take(groups[0], insert)
            rows = lock.fetchall()
            self.locked_fine = bool(ids) and all(map(_FIRST, apply.fetchall()))
        self._fill_ids(results)
        return {row[0]: row[1:] for row in rows}

    _PG_INSERT = (
        "INSERT INTO ledger_transfer (created_at, key, debit_account_id, credit_account_id, amount_fen, ledger, "
        "code, kind, pending_id, timeout_seconds, timeout_at, linked, memo) "
        "SELECT %s::timestamptz, unnest(%s::text[]), unnest(%s::bigint[]), unnest(%s::bigint[]), "
        "unnest(%s::bigint[]), unnest(%s::integer[]), unnest(%s::text[]), unnest(%s::text[]), "
        "unnest(%s::bigint[]), unnest(%s::integer[]), unnest(%s::timestamptz[]), unnest(%s::boolean[]), "
        "unnest(%s::text[]) RETURNING id, key"
    )
    # The balances ride along with the (last) INSERT as a data-modifying CTE: one statement and
    # one round trip fewer per batch. The accounts are already locked by load().
    _PG_BALANCES = (
        "UPDATE ledger_account AS a SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, "
        "credits_posted = v.cpo FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::bigint[]) AS dp, "
        "unnest(%s::bigint[]) AS dpo, unnest(%s::bigint[]) AS cp, unnest(%s::bigint[]) AS cpo) v WHERE a.id = v.id"
    )
    _PG_ADD_BALANCES = (
        "UPDATE ledger_account AS a SET debits_pending = a.debits_pending + v.dp, "
        "debits_posted = a.debits_posted + v.dpo, credits_pending = a.credits_pending + v.cp, "
        "credits_posted = a.credits_posted + v.cpo FROM (SELECT unnest(%s::bigint[]) AS id, "
        "unnest(%s::bigint[]) AS dp, unnest(%s::bigint[]) AS dpo, unnest(%s::bigint[]) AS cp, "
        "unnest(%s::bigint[]) AS cpo) v WHERE a.id = v.id"
    )
    # The same, returning per account whether closed, the limits and overflow could not change
    # any ok result (certain_on_locked): the locked slack minus the batch's debits = the final
    # credits minus the batch's credits minus the final debits. Sums in numeric: a bigint sum
    # must not overflow here.
    _PG_ADD_BALANCES_FINE = (
        _PG_ADD_BALANCES + " RETURNING NOT a.closed "
        "AND a.debits_pending::numeric + a.debits_posted <= 9223372036854775807 "
        "AND a.credits_pending::numeric + a.credits_posted <= 9223372036854775807 "
        "AND (NOT a.debits_must_not_exceed_credits "
        "OR a.credits_posted - v.cpo >= a.debits_pending::numeric + a.debits_posted) "
        "AND (NOT a.credits_must_not_exceed_debits "
        "OR a.debits_posted - v.dpo >= a.credits_pending::numeric + a.credits_posted)"
    )
    _PG_ADD_BALANCES_REQUIRE = (
        f"WITH u AS ({_PG_ADD_BALANCES_FINE} AS fine, a.id, a.debits_pending, a.debits_posted, "  # noqa: S608  # nosec B608 - constant SQL
        "a.credits_pending, a.credits_posted) SELECT u.id, u.debits_pending, u.debits_posted, u.credits_pending, "
        "u.credits_posted FROM u CROSS JOIN (SELECT ledger_batch_require(bool_and(fine)) FROM u) r"
    )
    _PG_INSERT_AND_BALANCES = f"WITH ins AS ({_PG_INSERT}), upd AS ({_PG_BALANCES}) SELECT id, key FROM ins"  # noqa: S608  # nosec B608 - constant SQL

    def _pg_insert_send(self, group: list[_Rec], cur, *, with_balances: bool) -> None:
        """One INSERT ... SELECT unnest(...), ... per group: the ORM's bulk_create spends far more
        client CPU building 1,000 rows than the server spends inserting them."""
        records = self.records
        params = [
            self.now,
            _pg_texts([r.key for r in group]),
            _pg_ints([r.debit for r in group]),
            _pg_ints([r.credit for r in group]),
            _pg_ints([r.amount for r in group]),
            _pg_ints([r.ledger for r in group]),
            _pg_texts([r.code for r in group]),
            _pg_texts([r.kind for r in group]),
            _pg_ints([records[r.pending_key].id if r.pending_key else None for r in group]),
            _pg_ints([r.timeout_seconds for r in group]),
            _pg_times([r.timeout_at for r in group]),
            _pg_bools([r.linked for r in group]),
            _pg_texts([r.memo for r in group]),
        ]
        sql = self._PG_INSERT
        if with_balances:
            ids = sorted(self.touched)
            accounts = self.accounts
            params.append(_pg_ints(ids))
            params.extend(_pg_ints([accounts[a][f] for a in ids]) for f in (DP, DPO, CP, CPO))
            sql = self._PG_INSERT_AND_BALANCES
        cur.execute(sql, params, prepare=True)

    @staticmethod
    def _pg_insert_take(group: list[_Rec], cur) -> None:
        by_key = {key: pk for pk, key in cur.fetchall()}
        for r in group:
            r.id = by_key[r.key]

    def _pg_insert(self, group: list[_Rec], *, with_balances: bool) -> None:
        with pg_cursor() as cur:
            self._pg_insert_send(group, cur, with_balances=with_balances)
            self._pg_insert_take(group, cur)

    def _sqlite_write_accounts(self) -> None:
        ids = sorted(self.touched)
        cols = [[self.accounts[a][f] for a in ids] for f in (DP, DPO, CP, CPO)]
        with connection.cursor() as cur:
            cur.executemany(
                "UPDATE ledger_account SET debits_pending = %s, debits_posted = %s, credits_pending = %s, "
                "credits_posted = %s WHERE id = %s",
                [(cols[0][k], cols[1][k], cols[2][k], cols[3][k], a) for k, a in enumerate(ids)],
            )


def _existing_keys(keys: list[str]) -> bool:
    with pg_cursor() as cur:
        cur.execute(
            "SELECT 1 FROM ledger_transfer WHERE key = ANY(%s::text[]) LIMIT 1",
            [_pg_texts(keys)],
            prepare=True,
        )
        return cur.fetchone() is not None


class _AccountCache:
    """The last committed state this process saw of each account: what an optimistic batch
    evaluates on instead of reading the accounts before it locks them (see run_batch). Only a
    guess: the locked read that follows is compared with it, so a stale entry (another process,
    the single path) costs a second evaluation, never a wrong result."""

    LIMIT = 200_000  # accounts; ~45 MB at most, then it starts again empty

    def __init__(self):
        self.states: dict[int, tuple] = {}

    def lookup(self, ids: list[int]) -> tuple[dict[int, tuple], list[int]]:
        states = self.states
        found = {a: states[a] for a in ids if a in states}
        return found, ([a for a in ids if a not in found] if len(found) < len(ids) else [])

    def remember(self, states: dict[int, tuple]) -> None:
        if len(self.states) + len(states) > self.LIMIT:
            self.states = {}
        self.states.update(states)


_account_cache = _AccountCache()  # per process; threads share it (each entry is a guess anyway)

# After a StaleRead (another writer changed an account enough to change a result) the next
# batches of this process lock first, so a contended workload does not pay for each batch twice.
STALE_BACKOFF = 16
_lock_first_left = 0


def run_batch(
    transfers: list[TransferIn], *, assume_new_keys: bool = False, optimistic: bool = False
) -> list[TransferResult]:
    """Evaluate and write a batch. Call inside ``transaction.atomic``. Both options are for
    PostgreSQL's first attempt (ignored on SQLite); either may raise for the caller to retry the
    batch without them, and neither changes a result.

    ``assume_new_keys``: evaluate as if none of the batch's keys existed yet, saving the lookup of
    1,000 keys (~3 ms of the server's ~15 ms per batch). Still exact: a transfer that came out
    ``ok`` is inserted, and the unique index fails the INSERT (``IntegrityError``) if its key
    existed after all; for every other result the keys are looked up afterwards (usually none or
    a few) and if one exists the batch is evaluated again, the normal way. A key only changes the
    results of transfers that did not come out ``ok``, or of a chain that failed, whose members
    are then all not ``ok``.

    ``optimistic``: evaluate on the accounts' last known state (this process's cache, or an
    unlocked read for accounts it has not seen), then in one round trip lock the accounts (id
    order), INSERT the transfers and add the evaluation's balance changes: the locks are held for the
    UPDATE, the commit and a comparison instead of for the whole batch, so a second writer waits
    less. The locked state is compared with the one evaluated on; if they differ the batch is
    evaluated again on the locked state, and unless every result is the same (then the inserted
    rows and the added changes are exactly right) ``StaleRead`` is raised and the transaction
    rolls back; the next ``STALE_BACKOFF`` batches then lock first. (If the changes would overdraw
    an account that moved meanwhile, the balance CHECK constraints fail the UPDATE first: an
    ``IntegrityError``, retried the same way.)
    """
    global _lock_first_left
    pg = connection.vendor == "postgresql"
    optimistic = optimistic and pg
    if optimistic and _lock_first_left > 0:
        _lock_first_left -= 1
        optimistic = False
    now = timezone.now()
    batch = _Batch(transfers, now, assume_new_keys=assume_new_keys and pg)
    batch.load(lock=not optimistic, cache=_account_cache if optimistic else None)
    results = batch.run()
    if batch.assume_new_keys:
        unsure = [r[0] for r in results if r[1] != "ok" and r[0] and isinstance(r[0], str)]
        if unsure and _existing_keys(unsure):
            batch = _Batch(transfers, now)
            batch.load(lock=not optimistic, cache=_account_cache if optimistic else None)
            results = batch.run()
    locked = None
    final = batch.accounts  # what the batch made of its accounts (on the state it evaluated on)
    if not optimistic:
        batch.write(results)
    else:
        try:
            locked = batch.insert_lock_apply(results)
        except IntegrityError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == "23514":  # a CHECK: the changes overdrew
                _lock_first_left = STALE_BACKOFF  # an account that had moved; as with StaleRead
            raise
        except DataError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "22003":
                raise
            # The changes overflow a balance that moved meanwhile: the locking way says which
            # transfer overflows (``overflows_debits`` ...).
            _lock_first_left = STALE_BACKOFF
            raise StaleRead from exc
        if batch.certain_on_locked(results):
            final = None  # the locked state plus the changes: worked out after the commit
        elif locked != batch.read_state:
            again, again_results = batch.rerun(locked)
            if [r[1] for r in again_results] != [r[1] for r in results]:
                _account_cache.remember(locked)
                _lock_first_left = STALE_BACKOFF
                raise StaleRead
            final = again.accounts  # what the added changes made of the locked state
    if pg:

        def remember(batch=batch, locked=locked, final=final):
            # After the commit, with the locks released: the other writers need not wait for it.
            _remember_written(batch, locked, final)

        transaction.on_commit(remember, robust=True)
    return list(map(_new_result, results))  # [key, result, transfer_id]


def run_batch_sealed(transfers: list[TransferIn]) -> list[TransferResult] | None:
    """PostgreSQL, outside any transaction: the whole batch in one round trip, or ``None`` when
    the batch is not of that kind (the caller then runs ``run_batch``).

    Evaluated like an optimistic batch (as if every key were new, on the accounts' last known
    state); when every transfer is a new single or pending transfer that came out ``ok``, one
    pipeline sends BEGIN, the plan settings (``_PG_SEALED_PLAN``), the UPDATE that locks the
    accounts in id order, adds the changes and asserts, per account, that every result is certain
    on the state it locked (``ledger_batch_require``; see ``certain_on_locked``), the INSERT (new
    keys after the accounts, the order of every writer), and COMMIT. The locks are held only while
    the server runs those statements back to back, never across a round trip or the client's
    Python: with two writers on overlapping accounts that wait was most of a batch. The UPDATE
    returns the balances it wrote, which become this process's cache of those accounts.
    Anything else (a key that existed, a balance that moved too far, a CHECK, a deadlock) aborts
    the transaction before its COMMIT: it is rolled back and ``StaleRead`` raised (the caller then
    looks the keys up and locks first).
    """
    global _lock_first_left
    if _lock_first_left > 0 or not transfers:
        return None
    now = timezone.now()
    batch = _Batch(transfers, now, assume_new_keys=True)
    batch.load(lock=False, cache=_account_cache)
    results = batch.run()
    if not batch.all_new_and_ok(results):
        return None
    [group] = batch._new_groups()  # single and pending transfers only: one INSERT
    ids = sorted(batch.touched)
    columns = [_pg_ints(ids)] + [_pg_ints(d) for d in batch.changes(ids)]
    db = connections[DEFAULT_DB_ALIAS]
    try:
        with pg_cursor(db) as control, pg_cursor(db) as insert, pg_cursor(db) as apply:
            with db.connection.pipeline():
                control.execute("BEGIN")
                control.execute(_PG_SEALED_PLAN)
                apply.execute(_Batch._PG_ADD_BALANCES_REQUIRE, columns, prepare=True)
                batch._pg_insert_send(group, insert, with_balances=False)
                control.execute("COMMIT")
            batch._pg_insert_take(group, insert)
            read = batch.read_state
            final = {row[0]: read[row[0]][:4] + row[1:] for row in apply.fetchall()}
    except DatabaseError as exc:
        if db.connection is None or db.connection.closed:
            raise  # the connection is gone, not the batch: for the caller's error handling
        db.connection.rollback()  # the transaction the error aborted before its COMMIT
        if getattr(exc.__cause__, "sqlstate", None) in ("OKW01", "23514", "22003", "40P01"):
            _lock_first_left = STALE_BACKOFF  # accounts moved under this process's cache: as StaleRead
        raise StaleRead from exc
    batch._fill_ids(results)
    _account_cache.remember(final)
    return list(map(_new_result, results))


# tuple.__new__ bound to TransferResult: C all the way (NamedTuple._make is a Python function).
_new_result = partial(tuple.__new__, TransferResult)


def _remember_written(batch: _Batch, locked: dict[int, tuple] | None, final: dict[int, list] | None) -> None:
    """Put what a committed batch wrote into this process's cache: ``final`` when known, else the
    ``locked`` state plus the batch's changes (the evaluated state when the locks found no change)."""
    if final is None:
        final = batch.accounts if locked == batch.read_state else _plus_changes(batch, locked)
    _account_cache.remember(dict(zip(final, map(tuple, final.values()), strict=True)))


def _plus_changes(batch: _Batch, locked: dict[int, tuple]) -> dict[int, list]:
    """The locked state plus this batch's changes: what the UPDATE wrote (for the cache)."""
    accounts = {a: list(state) for a, state in locked.items()}
    ids = sorted(batch.touched)
    for field, column in zip((DP, DPO, CP, CPO), batch.changes(ids), strict=True):
        for a, change in zip(ids, column, strict=True):
            accounts[a][field] += change
    return accounts
