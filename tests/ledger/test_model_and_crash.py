"""The ledger against an in-memory model (hypothesis stateful), under 32 threads, and after SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from okwallet.ledger.models import Account, Transfer
from okwallet.ledger.selectors import ledger_verify
from okwallet.ledger.services import (
    TransferIn,
    account_close,
    account_create,
    transfer_create,
    transfers_create,
)

ROOT = Path(__file__).resolve().parents[2]
KEYS = [f"k{i}" for i in range(12)]


class Model:
    """The rules, written again as plainly as possible."""

    def __init__(self, flags):
        self.flags = flags  # id -> "dm" | "cm" | ""
        self.bal = {a: [0, 0, 0, 0] for a in flags}  # dp, dpo, cp, cpo
        self.closed = set()
        self.transfers = {}  # key -> dict
        self.resolved = {}  # pending key -> kind

    def apply(self, t: TransferIn) -> str:
        if t.kind in ("post", "void"):
            p = self.transfers.get(t.pending_key)
            if p is None:
                return "pending_transfer_not_found"
            if p["kind"] != "pending":
                return "pending_transfer_not_pending"
            e = self.transfers.get(t.key)
            if e is not None:
                if e["kind"] != t.kind:
                    return "exists_with_different_kind"
                if e.get("pending") != t.pending_key:
                    return "exists_with_different_pending_id"
                if t.amount_fen is not None and t.amount_fen != e["amount"]:
                    return "exists_with_different_amount"
                return "exists"
            if t.kind == "void" and t.amount_fen is not None and t.amount_fen != p["amount"]:
                return "pending_transfer_has_different_amount"
            if t.kind == "post" and t.amount_fen is not None and t.amount_fen > p["amount"]:
                return "exceeds_pending_transfer_amount"
            if t.pending_key in self.resolved:
                return {"post": "pending_transfer_already_posted", "void": "pending_transfer_already_voided"}[
                    self.resolved[t.pending_key]
                ]
            if t.kind == "post" and p["dr"] in self.closed:
                return "debit_account_already_closed"
            if t.kind == "post" and p["cr"] in self.closed:
                return "credit_account_already_closed"
            amount = t.amount_fen if (t.kind == "post" and t.amount_fen is not None) else p["amount"]
            self.bal[p["dr"]][0] -= p["amount"]
            self.bal[p["cr"]][2] -= p["amount"]
            if t.kind == "post":
                self.bal[p["dr"]][1] += amount
                self.bal[p["cr"]][3] += amount
            self.resolved[t.pending_key] = t.kind
            self.transfers[t.key] = {"kind": t.kind, "amount": amount, "pending": t.pending_key}
            return "ok"
        if t.debit_account_id == t.credit_account_id:
            return "accounts_must_be_different"
        if t.amount_fen <= 0:
            return "amount_must_be_positive"
        e = self.transfers.get(t.key)
        if e is not None:
            if e["kind"] != t.kind:
                return "exists_with_different_kind"
            if e["dr"] != t.debit_account_id:
                return "exists_with_different_debit_account_id"
            if e["cr"] != t.credit_account_id:
                return "exists_with_different_credit_account_id"
            if e["amount"] != t.amount_fen:
                return "exists_with_different_amount"
            return "exists"
        dr, cr = self.bal[t.debit_account_id], self.bal[t.credit_account_id]
        if t.debit_account_id in self.closed:
            return "debit_account_already_closed"
        if t.credit_account_id in self.closed:
            return "credit_account_already_closed"
        if self.flags[t.debit_account_id] == "dm" and dr[0] + dr[1] + t.amount_fen > dr[3]:
            return "exceeds_credits"
        if self.flags[t.credit_account_id] == "cm" and cr[2] + cr[3] + t.amount_fen > cr[1]:
            return "exceeds_debits"
        pending = t.kind == "pending"
        dr[0 if pending else 1] += t.amount_fen
        cr[2 if pending else 3] += t.amount_fen
        self.transfers[t.key] = {
            "kind": t.kind,
            "amount": t.amount_fen,
            "dr": t.debit_account_id,
            "cr": t.credit_account_id,
        }
        return "ok"


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        with connection.cursor() as cur:  # one statement each: resolutions reference their pendings
            cur.execute("DELETE FROM ledger_transfer")
            cur.execute("DELETE FROM ledger_account")
        accs = [
            (account_create(code="equity"), ""),
            (account_create(code="wallet", debits_must_not_exceed_credits=True), "dm"),
            (account_create(code="wallet", debits_must_not_exceed_credits=True), "dm"),
            (account_create(code="clearing", credits_must_not_exceed_debits=True), "cm"),
        ]
        self.ids = [a.pk for a, _f in accs]
        self.model = Model({a.pk: f for a, f in accs})

    def _check(self, t: TransferIn, got: str):
        want = self.model.apply(t)
        assert got == want, (t, got, want)

    @rule(
        data=st.data(),
        kind=st.sampled_from(["single", "single", "pending"]),
        key=st.sampled_from(KEYS),
        amount=st.integers(-1, 400),
        batch=st.booleans(),
    )
    def transfer(self, data, kind, key, amount, batch):
        dr = data.draw(st.sampled_from(self.ids))
        cr = data.draw(st.sampled_from(self.ids))
        t = TransferIn(
            key=key, debit_account_id=dr, credit_account_id=cr, amount_fen=amount, code="t", kind=kind
        )
        single = {k: v for k, v in t._asdict().items() if k != "linked"}
        got = (transfers_create(transfers=[t])[0] if batch else transfer_create(**single)).result
        self._check(t, got)

    @rule(
        kind=st.sampled_from(["post", "void"]),
        key=st.sampled_from(KEYS),
        pending=st.sampled_from(KEYS),
        amount=st.one_of(st.none(), st.integers(1, 400)),
        batch=st.booleans(),
    )
    def resolve(self, kind, key, pending, amount, batch):
        t = TransferIn(key=key, kind=kind, pending_key=pending, amount_fen=amount)
        got = (
            transfers_create(transfers=[t])[0]
            if batch
            else transfer_create(key=key, kind=kind, pending_key=pending, amount_fen=amount)
        ).result
        self._check(t, got)

    @rule(data=st.data())
    def linked_pair(self, data):
        """Two linked transfers: both apply or neither."""
        a, b = data.draw(st.sampled_from(self.ids)), data.draw(st.sampled_from(self.ids))
        k1, k2 = data.draw(st.sampled_from(KEYS)), data.draw(st.sampled_from(KEYS))
        x, y = data.draw(st.integers(1, 300)), data.draw(st.integers(1, 300))
        t1 = TransferIn(key=k1, debit_account_id=a, credit_account_id=b, amount_fen=x, code="t", linked=True)
        t2 = TransferIn(key=k2, debit_account_id=b, credit_account_id=a, amount_fen=y, code="t")
        results = [r.result for r in transfers_create(transfers=[t1, t2])]
        import copy

        snapshot = copy.deepcopy(self.model.__dict__)
        r1 = self.model.apply(t1)
        r2 = self.model.apply(t2) if r1 in ("ok", "exists") else None
        if r1 not in ("ok", "exists"):
            want = [r1, "linked_event_failed"]
            self.model.__dict__.update(snapshot)
        elif r2 not in ("ok", "exists"):
            want = ["linked_event_failed", r2]
            self.model.__dict__.update(snapshot)
        else:
            want = [r1, r2]
        assert results == want, (t1, t2, results, want)

    @precondition(lambda self: len(self.model.closed) < 2)
    @rule(data=st.data())
    def close(self, data):
        a = data.draw(st.sampled_from(self.ids[1:]))
        account_close(account_id=a)
        self.model.closed.add(a)

    @invariant()
    def balances_match_the_model(self):
        for acc in Account.objects.filter(pk__in=self.ids):
            assert [
                acc.debits_pending,
                acc.debits_posted,
                acc.credits_pending,
                acc.credits_posted,
            ] == self.model.bal[acc.pk]

    @invariant()
    def ledger_verifies(self):
        assert ledger_verify().clean


@pytest.mark.django_db(transaction=True)
def test_ledger_behaves_like_the_model():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=int(os.environ.get("LEDGER_MODEL_EXAMPLES", "25")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def _in_threads(target, count: int) -> None:
    """``target(0)`` … ``target(count - 1)``, each in a thread of its own, all started before any
    is waited for (each with its own database connection)."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_32_threads_on_hot_accounts_lose_nothing_and_never_deadlock():
    operator = account_create(code="equity", ref="hot:op")
    hot = [
        account_create(code="wallet", ref=f"hot:{i}", debits_must_not_exceed_credits=True).pk
        for i in range(3)
    ]
    for i, a in enumerate(hot):
        transfer_create(
            key=f"seed{i}", debit_account_id=operator.pk, credit_account_id=a, amount_fen=100_000, code="t"
        )
    errors, oks = [], []
    lock = threading.Lock()

    def writer(n: int):
        rng = random.Random(n)
        mine = 0
        try:
            for j in range(40):
                a, b = rng.sample(hot, 2)
                if j % 5 == 4:  # some batches touching the same hot accounts in other orders
                    items = [
                        TransferIn(
                            key=f"t{n}-{j}-{k}",
                            debit_account_id=x,
                            credit_account_id=y,
                            amount_fen=7,
                            code="t",
                        )
                        for k, (x, y) in enumerate([(a, b), (b, a), (a, b)])
                    ]
                    mine += sum(r.created for r in transfers_create(transfers=items))
                else:
                    mine += transfer_create(
                        key=f"t{n}-{j}",
                        debit_account_id=a,
                        credit_account_id=b,
                        amount_fen=rng.randint(1, 50),
                        code="t",
                    ).created
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(repr(exc))
        finally:
            connections.close_all()
        with lock:
            oks.append(mine)

    _in_threads(writer, 32)
    assert errors == []
    made = Transfer.objects.exclude(key__startswith="seed").count()
    assert made == sum(oks) == 32 * (32 + 8 * 3)
    total = sum(Account.objects.get(pk=a).balance_fen for a in hot)
    assert total == 300_000  # moved around, never created or lost
    assert ledger_verify().clean


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_new_key_from_16_threads_at_once_moves_money_once():
    """A client retrying on every connection at once: one transfer, everyone else gets ``exists``
    with its id (single path: the INSERT waits for the first writer of the key; batch path: the
    unique index fails the loser's batch, which the service retries)."""
    operator = account_create(code="equity", ref="race:op")
    wallets = [
        account_create(code="wallet", ref=f"race:{i}", debits_must_not_exceed_credits=True).pk
        for i in range(2)
    ]
    results, errors = [], []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def client(n: int):
        try:
            start.wait(timeout=30)
            if n % 2:
                r = transfer_create(
                    key="race",
                    debit_account_id=operator.pk,
                    credit_account_id=wallets[0],
                    amount_fen=500,
                    code="t",
                )
            else:
                r = transfers_create(
                    transfers=[
                        TransferIn(
                            key="race",
                            debit_account_id=operator.pk,
                            credit_account_id=wallets[0],
                            amount_fen=500,
                            code="t",
                        ),
                        TransferIn(
                            key=f"other-{n}",
                            debit_account_id=operator.pk,
                            credit_account_id=wallets[1],
                            amount_fen=1,
                            code="t",
                        ),
                    ]
                )[0]
            with lock:
                results.append((r.result, r.transfer_id))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            with lock:
                errors.append(repr(exc))
        finally:
            connections.close_all()

    _in_threads(client, 16)
    assert errors == []
    assert sorted(r for r, _ in results) == ["exists"] * 15 + ["ok"]
    assert len({tid for _, tid in results}) == 1
    assert Account.objects.get(pk=wallets[0]).balance_fen == 500
    assert Account.objects.get(pk=wallets[1]).balance_fen == 8  # every batch's other transfer, once
    assert ledger_verify().clean


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("funded", "meanwhile", "expected", "again"),
    [
        (1_000, -50, "ok", False),  # still ok: the same changes, added to the moved balance
        (100, -50, "exceeds_credits", True),  # would overdraw: the balance CHECK fails the UPDATE
        (50, +100, "ok", True),  # was a rejection, is ok on the locked state: StaleRead
    ],
)
def test_a_change_between_the_optimistic_read_and_the_lock_is_seen(
    monkeypatch, funded, meanwhile, expected, again
):
    """A PostgreSQL batch evaluates on the accounts' last known state (here read unlocked: the
    cache is empty), then inserts, locks and adds its changes. Another writer moves money on the
    same wallet in between: the batch must come out as if it had locked first."""
    from okwallet.ledger import engine

    operator = account_create(code="equity", ref="opt:op")
    wallet, payee, other = (
        account_create(code="wallet", ref=f"opt:{n}", debits_must_not_exceed_credits=True).pk for n in "wpo"
    )
    transfer_create(
        key="fund", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=funded, code="t"
    )
    read_accounts, insert_lock_apply = engine._Batch.read_accounts, engine._Batch.insert_lock_apply
    interfered, reads = [], []

    def move():
        dr, cr = (wallet, other) if meanwhile < 0 else (operator.pk, wallet)
        interfered.append(
            transfer_create(
                key="meanwhile",
                debit_account_id=dr,
                credit_account_id=cr,
                amount_fen=abs(meanwhile),
                code="t",
            ).result
        )
        connections.close_all()

    def reading(self, *, lock, ids=None):
        reads.append("locked" if lock else "unlocked")
        return read_accounts(self, lock=lock, ids=ids)

    def interfering(self, results):
        reads.append("insert+locked")
        if not interfered:  # evaluated already, the accounts not locked yet
            thread = threading.Thread(target=move)
            thread.start()
            thread.join(timeout=30)
        return insert_lock_apply(self, results)

    monkeypatch.setattr(engine._Batch, "read_accounts", reading)
    monkeypatch.setattr(engine._Batch, "insert_lock_apply", interfering)
    monkeypatch.setattr(engine, "_account_cache", engine._AccountCache())  # nothing known yet: read
    monkeypatch.setattr(engine, "_lock_first_left", 0)
    with transaction.atomic():  # inside the caller's transaction: the optimistic path (not sealed)
        [r] = transfers_create(
            transfers=[
                TransferIn(
                    key="batch", debit_account_id=wallet, credit_account_id=payee, amount_fen=80, code="t"
                )
            ]
        )
    assert interfered == ["ok"]
    assert r.result == expected
    # Run again the locking way when the optimistic attempt could not stand, and lock first for a while.
    assert reads == ["unlocked", "insert+locked"] + (["locked"] if again else [])
    assert engine._lock_first_left == (engine.STALE_BACKOFF if again else 0)
    assert Transfer.objects.filter(key="batch").exists() == (expected == "ok")
    assert Account.objects.get(pk=wallet).available_fen == funded + meanwhile - (
        80 if expected == "ok" else 0
    )
    assert ledger_verify().clean


def _move_from_another_thread(operator: int, wallet: int, other: int, meanwhile: int) -> None:
    """Another writer moves ``meanwhile`` fen into (> 0, from the operator) or out of (< 0, to
    ``other``) the wallet, on its own connection, and commits before this returns."""
    dr, cr = (wallet, other) if meanwhile < 0 else (operator, wallet)

    def move():
        transfer_create(
            key="meanwhile", debit_account_id=dr, credit_account_id=cr, amount_fen=abs(meanwhile), code="t"
        )
        connections.close_all()

    thread = threading.Thread(target=move)
    thread.start()
    thread.join(timeout=30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("funded", "meanwhile", "evaluated_again"),
    [
        (1_000, -50, False),  # the moved balance still covers every debit of the batch: no second look
        (1_000, +50, False),
        (100, -50, True),  # covers them only because the batch credits the wallet first: evaluated again
    ],
)
def test_an_optimistic_batch_skips_the_second_evaluation_only_when_certain(
    monkeypatch, funded, meanwhile, evaluated_again
):
    """On the locked state every result of an all-``ok`` batch stays ``ok`` when the wallet's
    locked balance covers all of the batch's debits from it (the worst order); then the batch is
    not evaluated again. Otherwise it is, and here it comes out the same (a credit precedes the
    debit). Either way the balances are exact."""
    from okwallet.ledger import engine

    operator = account_create(code="equity", ref="opt2:op")
    wallet, payee, other = (
        account_create(code="wallet", ref=f"opt2:{n}", debits_must_not_exceed_credits=True).pk for n in "wpo"
    )
    transfer_create(
        key="fund", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=funded, code="t"
    )
    insert_lock_apply, rerun = engine._Batch.insert_lock_apply, engine._Batch.rerun
    reruns = []

    def interfering(self, results):
        _move_from_another_thread(operator.pk, wallet, other, meanwhile)
        return insert_lock_apply(self, results)

    def counting_rerun(self, state):
        reruns.append(state)
        return rerun(self, state)

    monkeypatch.setattr(engine._Batch, "insert_lock_apply", interfering)
    monkeypatch.setattr(engine._Batch, "rerun", counting_rerun)
    monkeypatch.setattr(engine, "_account_cache", engine._AccountCache())
    monkeypatch.setattr(engine, "_lock_first_left", 0)
    with transaction.atomic():  # inside the caller's transaction: the optimistic path (not sealed)
        results = transfers_create(
            transfers=[
                TransferIn(
                    key="in", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=100, code="t"
                ),
                TransferIn(
                    key="out", debit_account_id=wallet, credit_account_id=payee, amount_fen=150, code="t"
                ),
            ]
        )
    assert [r.result for r in results] == ["ok", "ok"]
    assert len(reruns) == int(evaluated_again)
    assert engine._lock_first_left == 0
    assert Account.objects.get(pk=wallet).available_fen == funded + meanwhile + 100 - 150
    assert Account.objects.get(pk=payee).available_fen == 150
    # What the process remembers of the wallet is what the UPDATE wrote.
    state = engine._account_cache.states[wallet]
    assert state[engine.CPO] - state[engine.DPO] - state[engine.DP] == funded + meanwhile + 100 - 150
    assert ledger_verify().clean


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("funded", "meanwhile", "first_out", "expected", "sealed"),
    [
        (1_000, -50, 80, ["ok", "ok"], True),  # moved, but still covers the batch: one round trip
        (1_000, +50, 80, ["ok", "ok"], True),
        (100, -50, 160, ["ok", "exceeds_credits"], False),  # no longer covers it: aborted, locking way
        (100, -50, 150, ["ok", "ok"], False),  # covered only with the batch's own credit: locking way
    ],
)
def test_a_sealed_batch_commits_in_one_round_trip_only_when_certain(
    monkeypatch, funded, meanwhile, first_out, expected, sealed
):
    """Outside a transaction a batch of new transfers is sealed: BEGIN, locks, INSERT, UPDATE and
    COMMIT in one pipeline, the server asserting that every ok result stands on the state it
    locked. Another writer moves the wallet between the evaluation and the pipeline: where the
    assertion fails, nothing of the sealed attempt remains and the locking way decides."""
    from okwallet.ledger import engine, services

    operator = account_create(code="equity", ref="seal:op")
    wallet, payee, other = (
        account_create(code="wallet", ref=f"seal:{n}", debits_must_not_exceed_credits=True).pk for n in "wpo"
    )
    transfer_create(
        key="fund", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=funded, code="t"
    )
    new_groups, run_batch = engine._Batch._new_groups, services.run_batch
    locking_way = []

    def interfering(self):
        if not locking_way:  # the sealed attempt: evaluated, nothing sent yet
            _move_from_another_thread(operator.pk, wallet, other, meanwhile)
        return new_groups(self)

    def counting_run_batch(transfers, **kw):
        locking_way.append(kw)
        return run_batch(transfers, **kw)

    monkeypatch.setattr(engine._Batch, "_new_groups", interfering)
    monkeypatch.setattr(services, "run_batch", counting_run_batch)
    monkeypatch.setattr(engine, "_account_cache", engine._AccountCache())
    monkeypatch.setattr(engine, "_lock_first_left", 0)
    results = transfers_create(
        transfers=[
            TransferIn(
                key="in", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=100, code="t"
            ),
            TransferIn(
                key="out", debit_account_id=wallet, credit_account_id=payee, amount_fen=first_out, code="t"
            ),
        ]
    )
    assert [r.result for r in results] == expected
    assert all((r.transfer_id is not None) == r.ok for r in results)
    assert Transfer.objects.filter(key="meanwhile").count() == 1
    if sealed:
        assert locking_way == []
        assert engine._lock_first_left == 0
    else:  # straight to the locking way (the sealed attempt was the optimistic one), then lock first
        assert locking_way == [{"assume_new_keys": False, "optimistic": False}]
        assert engine._lock_first_left == engine.STALE_BACKOFF
    moved_out = first_out if expected[1] == "ok" else 0
    assert Account.objects.get(pk=wallet).available_fen == funded + meanwhile + 100 - moved_out
    assert Account.objects.get(pk=payee).available_fen == moved_out
    state = engine._account_cache.states[wallet]  # what the process remembers is what was written
    assert state[engine.CPO] - state[engine.DPO] - state[engine.DP] == funded + meanwhile + 100 - moved_out
    assert ledger_verify().clean


def _server_deadlocks() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cur.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sealed_batches_from_four_writers_on_overlapping_accounts_take_locks_in_id_order(monkeypatch):
    """A sealed batch's UPDATE locks its accounts itself; it must do so in id order whatever the
    batch's own order, or two writers on overlapping accounts deadlock (the server breaks it and
    the batch runs again the locking way, so only the server's deadlock count and the batches
    that left the sealed path show it)."""
    from okwallet.ledger import engine, services

    operator = account_create(code="equity", ref="so:op")
    wallets = [
        account_create(code="wallet", ref=f"so:{i}", debits_must_not_exceed_credits=True).pk
        for i in range(60)
    ]
    transfers_create(
        transfers=[
            TransferIn(
                key=f"so-fund-{a}",
                debit_account_id=operator.pk,
                credit_account_id=a,
                amount_fen=10**9,
                code="t",
            )
            for a in wallets
        ]
    )
    run_batch, not_sealed = services.run_batch, []

    def counting_run_batch(transfers, **kw):
        not_sealed.append(len(transfers))
        return run_batch(transfers, **kw)

    monkeypatch.setattr(services, "run_batch", counting_run_batch)
    monkeypatch.setattr(engine, "_lock_first_left", 0)
    deadlocks_before = _server_deadlocks()
    errors = []

    def writer(n: int):
        rng = random.Random(n)
        try:
            for j in range(15):
                pairs = [rng.sample(wallets, 2) for _ in range(150)]  # every account in every batch
                transfers_create(
                    transfers=[
                        TransferIn(
                            key=f"so-{n}-{j}-{k}",
                            debit_account_id=a,
                            credit_account_id=b,
                            amount_fen=3,
                            code="t",
                        )
                        for k, (a, b) in enumerate(pairs)
                    ]
                )
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))
        finally:
            connections.close_all()  # the backend's statistics are flushed when it ends

    _in_threads(writer, 4)
    assert errors == []
    time.sleep(0.5)  # the ended backends' statistics reach the shared counters
    assert _server_deadlocks() == deadlocks_before
    assert not_sealed == []  # nothing aborted: every batch went through sealed
    assert (
        Transfer.objects.filter(key__startswith="so-").exclude(key__startswith="so-fund").count()
        == 4 * 15 * 150
    )
    assert sum(Account.objects.get(pk=a).balance_fen for a in wallets) == 60 * 10**9
    assert ledger_verify().clean


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sealed_batch_with_a_key_that_exists_leaves_nothing_and_returns_the_original(monkeypatch):
    from okwallet.ledger import engine

    operator = account_create(code="equity", ref="sealk:op")
    wallet = account_create(code="wallet", ref="sealk:w", debits_must_not_exceed_credits=True).pk
    monkeypatch.setattr(engine, "_lock_first_left", 0)
    [first] = transfers_create(
        transfers=[
            TransferIn(
                key="k1", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=5, code="t"
            )
        ]
    )
    again = transfers_create(
        transfers=[
            TransferIn(
                key="k2", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=7, code="t"
            ),
            TransferIn(
                key="k1", debit_account_id=operator.pk, credit_account_id=wallet, amount_fen=5, code="t"
            ),
        ]
    )
    assert first.result == "ok"
    assert [(r.result, r.transfer_id == first.transfer_id) for r in again] == [
        ("ok", False),
        ("exists", True),
    ]
    assert engine._lock_first_left == 0  # a repeated key is not contention
    assert Account.objects.get(pk=wallet).available_fen == 12
    assert connection.connection.info.transaction_status.name == "IDLE"
    assert ledger_verify().clean


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch", [1, 200])
def test_sigkill_mid_load_leaves_a_consistent_ledger(batch):
    from okwallet.ledger.management.commands.ledger_soak import soak_accounts

    soak_accounts(20)
    name = connection.settings_dict["NAME"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "okwallet.settings_test"}
    connection.close()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "ledger_soak",
                "--child",
                "--batch",
                str(batch),
                "--transfers",
                "1000000",
                "--seed",
                str(s),
                "--database-name",
                name,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for s in (1, 2)
    ]
    deadline = time.monotonic() + 60
    while Transfer.objects.count() < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert Transfer.objects.count() >= 200
    report = ledger_verify()
    assert report.clean, report.problems
