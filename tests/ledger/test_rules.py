"""Every ledger rule, on the single path (PostgreSQL function or SQLite engine) and the batch path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DataError, IntegrityError, connection, transaction

from okwallet.ledger import engine, services
from okwallet.ledger.models import Account, Transfer
from okwallet.ledger.selectors import ledger_verify
from okwallet.ledger.services import (
    LedgerError,
    TransferIn,
    account_close,
    account_create,
    pending_expire_due,
    raise_for_result,
    transfer_create,
    transfers_create,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["single", "batch", "batch_locking_first"])
def create(request, monkeypatch):
    """One transfer through either path; both must give the same answers. On PostgreSQL a batch's
    first attempt is optimistic (accounts locked after the INSERT), a retry locks first: both
    ways are pinned here."""
    if request.param == "single":
        return lambda **kw: transfer_create(**kw)
    monkeypatch.setattr(engine, "_lock_first_left", 0)  # no back-off left over from another test
    if request.param == "batch_locking_first":
        run_batch = services.run_batch
        monkeypatch.setattr(
            services, "run_batch", lambda ts, **kw: run_batch(ts, **{**kw, "optimistic": False})
        )

    def via_batch(**kw):
        return transfers_create(transfers=[TransferIn(**kw)])[0]

    return via_batch


@pytest.fixture
def accounts():
    operator = account_create(code="equity", ref="test:operator")
    wallet_a = account_create(code="wallet", ref="test:a", debits_must_not_exceed_credits=True)
    wallet_b = account_create(code="wallet", ref="test:b", debits_must_not_exceed_credits=True)
    return operator, wallet_a, wallet_b


def fresh(acc):
    return Account.objects.get(pk=acc.pk)


def test_single_transfer_moves_money_and_balances_stay_double_entry(create, accounts):
    op, a, b = accounts
    r = create(key="k1", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=10_000, code="deposit")
    assert r.result == "ok" and r.transfer_id
    r2 = create(key="k2", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=2_500, code="transfer")
    assert r2.result == "ok"
    assert fresh(a).available_fen == 7_500
    assert fresh(b).balance_fen == 2_500
    assert ledger_verify().clean


def test_insufficient_balance_is_exceeds_credits_and_writes_nothing(create, accounts):
    op, a, b = accounts
    create(key="k1", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    r = create(key="k2", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=101, code="transfer")
    assert r.result == "exceeds_credits"
    assert not Transfer.objects.filter(key="k2").exists()
    assert fresh(a).available_fen == 100


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"key": ""}, "key_must_not_be_empty"),
        ({"key": "x" * 65}, "key_too_long"),
        ({"kind": "refund"}, "flags_are_mutually_exclusive"),
        ({"amount_fen": 1.5}, "amount_not_integer"),
        ({"amount_fen": True}, "amount_not_integer"),
        ({"amount_fen": 0}, "amount_must_be_positive"),
        ({"amount_fen": -5}, "amount_must_be_positive"),
        ({"amount_fen": 10**15 + 1}, "amount_too_large"),
        ({"amount_fen": 2**70}, "amount_too_large"),
        ({"pending_key": "p"}, "pending_id_must_be_empty"),
        ({"timeout_seconds": 5}, "timeout_reserved_for_pending_transfer"),
        ({"code": ""}, "code_must_not_be_empty"),
        ({"ledger": 0}, "ledger_must_not_be_zero"),
        ({"debit_account_id": 9_999_999}, "debit_account_not_found"),
        ({"credit_account_id": 9_999_999}, "credit_account_not_found"),
        ({"ledger": 840}, "transfer_must_have_the_same_ledger_as_accounts"),
    ],
)
def test_bad_input_gets_its_own_code(create, accounts, fields, code):
    op, a, _b = accounts
    kw = {
        "key": "k",
        "debit_account_id": op.pk,
        "credit_account_id": a.pk,
        "amount_fen": 100,
        "code": "deposit",
    }
    kw.update(fields)
    assert create(**kw).result == code
    assert Transfer.objects.count() == 0


def test_same_account_on_both_sides_is_rejected(create, accounts):
    op, _a, _b = accounts
    r = create(key="k", debit_account_id=op.pk, credit_account_id=op.pk, amount_fen=1, code="x")
    assert r.result == "accounts_must_be_different"


def test_currency_mismatch_is_rejected(create, accounts):
    op, _a, _b = accounts
    usd = account_create(code="wallet", ref="test:usd", ledger=840)
    r = create(key="k", debit_account_id=op.pk, credit_account_id=usd.pk, amount_fen=1, code="x")
    assert r.result == "accounts_must_have_the_same_ledger"


def test_repeated_key_returns_the_original_and_other_fields_are_told_apart(create, accounts):
    op, a, b = accounts
    first = create(key="k", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    again = create(key="k", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    assert again.result == "exists" and again.transfer_id == first.transfer_id
    base = {
        "key": "k",
        "debit_account_id": op.pk,
        "credit_account_id": a.pk,
        "amount_fen": 100,
        "code": "deposit",
    }
    for change, code in [
        ({"amount_fen": 200}, "exists_with_different_amount"),
        ({"credit_account_id": b.pk}, "exists_with_different_credit_account_id"),
        ({"debit_account_id": b.pk, "credit_account_id": a.pk}, "exists_with_different_debit_account_id"),
        ({"code": "other"}, "exists_with_different_code"),
        ({"kind": "pending"}, "exists_with_different_kind"),
    ]:
        assert create(**{**base, **change}).result == code
    assert fresh(a).balance_fen == 100
    assert Transfer.objects.count() == 1


def test_closed_account_takes_no_transfers(create, accounts):
    op, a, _b = accounts
    account_close(account_id=a.pk)
    r = create(key="k", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1, code="deposit")
    assert r.result == "credit_account_already_closed"
    account_close(account_id=op.pk)
    r = create(key="k", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1, code="deposit")
    assert r.result == "debit_account_already_closed"


def test_pending_reserves_then_partial_post_releases_the_rest(create, accounts):
    op, a, b = accounts
    create(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1_000, code="deposit")
    r = create(
        key="hold", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=600, code="w", kind="pending"
    )
    assert r.result == "ok"
    assert fresh(a).available_fen == 400
    assert create(
        key="big", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=500, code="w"
    ).result == ("exceeds_credits")
    assert (
        create(key="post", kind="post", pending_key="hold", amount_fen=700).result
        == "exceeds_pending_transfer_amount"
    )
    assert create(key="post", kind="post", pending_key="hold", amount_fen=450).result == "ok"
    assert fresh(a).available_fen == 550
    assert fresh(b).balance_fen == 450
    assert create(key="post", kind="post", pending_key="hold", amount_fen=450).result == "exists"
    assert create(key="post2", kind="post", pending_key="hold").result == "pending_transfer_already_posted"
    assert create(key="void", kind="void", pending_key="hold").result == "pending_transfer_already_posted"
    assert ledger_verify().clean


def test_void_releases_the_reservation_once(create, accounts):
    op, a, b = accounts
    create(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1_000, code="deposit")
    create(
        key="hold", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=1_000, code="w", kind="pending"
    )
    assert fresh(a).available_fen == 0
    assert (
        create(key="v", kind="void", pending_key="hold", amount_fen=5).result
        == "pending_transfer_has_different_amount"
    )
    assert create(key="v", kind="void", pending_key="hold").result == "ok"
    assert fresh(a).available_fen == 1_000
    assert create(key="v2", kind="void", pending_key="hold").result == "pending_transfer_already_voided"
    assert create(key="p", kind="post", pending_key="hold").result == "pending_transfer_already_voided"
    assert create(key="p", kind="post", pending_key="nope").result == "pending_transfer_not_found"
    assert create(key="p", kind="post", pending_key="dep").result == "pending_transfer_not_pending"
    assert create(key="p", kind="post").result == "pending_id_required"
    assert ledger_verify().clean


def test_post_must_match_the_pending_accounts(create, accounts):
    op, a, b = accounts
    create(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    create(
        key="hold", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=100, code="w", kind="pending"
    )
    r = create(key="p", kind="post", pending_key="hold", debit_account_id=b.pk)
    assert r.result == "pending_transfer_has_different_debit_account_id"
    r = create(key="p", kind="post", pending_key="hold", credit_account_id=op.pk)
    assert r.result == "pending_transfer_has_different_credit_account_id"


def test_pending_with_timeout_expires_by_the_job_and_cannot_be_posted_after(create, accounts):
    op, a, b = accounts
    create(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    create(
        key="hold",
        debit_account_id=a.pk,
        credit_account_id=b.pk,
        amount_fen=100,
        code="w",
        kind="pending",
        timeout_seconds=60,
    )
    assert pending_expire_due() == 0  # not due yet
    assert create(key="x", kind="expire", pending_key="hold").result == "pending_transfer_not_expired"
    Transfer.objects.filter(key="hold").update(
        timeout_at=Transfer.objects.get(key="hold").timeout_at - timedelta(hours=1)
    )
    assert create(key="p", kind="post", pending_key="hold").result == "pending_transfer_expired"
    assert pending_expire_due() == 1
    assert pending_expire_due() == 0
    assert fresh(a).available_fen == 100
    assert create(key="p", kind="post", pending_key="hold").result == "pending_transfer_expired"
    assert ledger_verify().clean


def test_linked_chain_succeeds_or_fails_as_a_whole(accounts):
    op, a, b = accounts
    transfer_create(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    chain = [
        TransferIn(
            key="c1", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=60, code="t", linked=True
        ),
        TransferIn(key="c2", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=60, code="t"),
        TransferIn(key="c3", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=30, code="t"),
    ]
    results = transfers_create(transfers=chain)
    assert [r.result for r in results] == ["linked_event_failed", "exceeds_credits", "ok"]
    assert fresh(a).available_fen == 70
    assert not Transfer.objects.filter(key__in=["c1", "c2"]).exists()
    open_chain = [
        TransferIn(
            key="o1", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=1, code="t", linked=True
        )
    ]
    assert transfers_create(transfers=open_chain)[0].result == "linked_event_chain_open"
    ok_chain = [
        TransferIn(
            key="d1", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=20, code="t", linked=True
        ),
        TransferIn(key="d2", debit_account_id=b.pk, credit_account_id=a.pk, amount_fen=5, code="t"),
    ]
    assert [r.result for r in transfers_create(transfers=ok_chain)] == ["ok", "ok"]
    assert ledger_verify().clean


def test_batch_resolves_a_pending_created_in_the_same_batch_and_repeats_are_exists(accounts):
    op, a, b = accounts
    batch = [
        TransferIn(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=500, code="deposit"),
        TransferIn(
            key="hold",
            debit_account_id=a.pk,
            credit_account_id=b.pk,
            amount_fen=300,
            code="w",
            kind="pending",
        ),
        TransferIn(key="post", kind="post", pending_key="hold", amount_fen=200),
        TransferIn(key="dep", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=500, code="deposit"),
    ]
    results = transfers_create(transfers=batch)
    assert [r.result for r in results] == ["ok", "ok", "ok", "exists"]
    assert results[3].transfer_id == results[0].transfer_id
    assert fresh(a).available_fen == 300
    assert [r.result for r in transfers_create(transfers=batch)] == ["exists"] * 4
    assert ledger_verify().clean


def test_in_a_batch_a_repeated_key_still_outranks_the_later_rules(accounts):
    """On PostgreSQL a batch is first evaluated as if its keys were new; a key that exists must
    still give ``exists*`` where a later rule (balance, a chain failing further on) would fail."""
    op, a, b = accounts
    transfer_create(key="d", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1_000, code="deposit")
    spent = transfer_create(
        key="spend", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=900, code="t"
    )
    again = TransferIn(key="spend", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=900, code="t")
    [r] = transfers_create(transfers=[again])  # as new it would now exceed the balance
    assert (r.result, r.transfer_id) == ("exists", spent.transfer_id)
    chain = [
        TransferIn(
            key="spend", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=50, code="t", linked=True
        ),
        TransferIn(key="new", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=5_000, code="t"),
    ]
    assert [r.result for r in transfers_create(transfers=chain)] == [
        "exists_with_different_amount",
        "linked_event_failed",
    ]
    mixed = [
        TransferIn(key="fresh", debit_account_id=op.pk, credit_account_id=b.pk, amount_fen=7, code="t"),
        TransferIn(key="d", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1_000, code="deposit"),
    ]
    assert [r.result for r in transfers_create(transfers=mixed)] == ["ok", "exists"]
    assert fresh(a).available_fen == 100
    assert fresh(b).balance_fen == 907
    assert ledger_verify().clean


def test_keys_and_memos_with_quotes_commas_and_braces_round_trip_in_a_batch(accounts):
    """PostgreSQL gets the batch's columns as array literals: nothing in a key may break them."""
    op, a, _b = accounts
    keys = ['q"uote', "back\\slash", "NULL", "com,ma", "{brace}", " spaced ", "中文", "", "it's"]
    batch = [
        TransferIn(
            key=k, debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=1, code="t", memo=k + '"\\'
        )
        for k in keys
    ]
    first = transfers_create(transfers=batch)
    results = {r.key: r for r in first}
    assert results[""].result == "key_must_not_be_empty"
    assert all(results[k].result == "ok" for k in keys if k)
    again = transfers_create(transfers=batch)
    assert [r.result for r in again] == [("exists" if k else "key_must_not_be_empty") for k in keys]
    assert [r.transfer_id for r in again if r.key] == [results[k].transfer_id for k in keys if k]
    stored = dict(Transfer.objects.values_list("key", "memo"))
    assert stored == {k: k + '"\\' for k in keys if k}
    assert fresh(a).balance_fen == len(keys) - 1


def test_a_batch_after_the_single_path_moved_the_money_sees_the_new_balance(accounts, monkeypatch):
    """An optimistic batch evaluates on the state this process last saw; the single path changes
    accounts behind its back. The locked read must win: no overdraft, the right code."""
    monkeypatch.setattr(engine, "_account_cache", engine._AccountCache())
    monkeypatch.setattr(engine, "_lock_first_left", 0)
    op, a, b = accounts
    transfer_create(key="d", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    spend = {"debit_account_id": a.pk, "credit_account_id": b.pk, "code": "t"}
    assert transfers_create(transfers=[TransferIn(key="b1", amount_fen=10, **spend)])[0].result == "ok"
    assert transfer_create(key="s1", amount_fen=80, **spend).result == "ok"  # a: 10 left
    [r] = transfers_create(transfers=[TransferIn(key="b2", amount_fen=50, **spend)])
    assert r.result == "exceeds_credits"
    [r] = transfers_create(transfers=[TransferIn(key="b3", amount_fen=10, **spend)])
    assert r.result == "ok"
    assert fresh(a).available_fen == 0
    assert ledger_verify().clean


def test_raise_for_result_gives_an_ok_error_with_the_code(accounts):
    op, a, b = accounts
    r = transfer_create(key="k", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=1, code="t")
    with pytest.raises(LedgerError) as exc:
        raise_for_result(r)
    assert exc.value.code == "exceeds_credits" and exc.value.http_status == 409


def test_database_refuses_an_overdraft_even_without_the_engine(accounts):
    _op, a, _b = accounts
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=a.pk).update(debits_posted=1)


def test_database_refuses_a_reused_key_and_a_second_resolution_even_without_the_engine(accounts):
    """The unique key and "resolved at most once" are database facts (migration 0004 dropped
    redundant indexes next to them and must have kept these)."""
    op, a, _b = accounts
    pending = transfer_create(
        key="p", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="t", kind="pending"
    )
    assert transfer_create(key="v", kind="void", pending_key="p").result == "ok"
    row = {"debit_account_id": op.pk, "credit_account_id": a.pk, "amount_fen": 100, "code": "t"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(key="p", **row)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(key="v2", kind="void", pending_id=pending.transfer_id, **row)
    assert ledger_verify().clean


@pytest.mark.postgres
def test_single_path_survives_a_deallocated_statement_and_raises_django_errors(accounts):
    """The autocommit single path runs a prepared statement straight through libpq: it prepares
    again when the session lost it, and server errors still arrive as Django's exceptions."""
    op, a, _b = accounts
    first = transfer_create(key="k1", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=5, code="t")
    with connection.cursor() as cur:
        cur.execute("DEALLOCATE ALL")
    second = transfer_create(key="k2", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=5, code="t")
    assert (first.result, second.result) == ("ok", "ok") and second.transfer_id > first.transfer_id
    with pytest.raises(DataError):  # the function's integer ledger parameter
        transfer_create(
            key="k3", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=5, code="t", ledger=2**40
        )
    assert fresh(a).balance_fen == 10
    assert ledger_verify().clean


def test_ledger_verify_reports_drift_and_exits_non_zero(accounts):
    op, a, _b = accounts
    transfer_create(key="k", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    call_command("ledger_verify")
    Account.objects.filter(pk=a.pk).update(credits_posted=150)
    report = ledger_verify()
    assert not report.clean
    assert any("cached" in p for p in report.problems)
    with pytest.raises(SystemExit) as exc:
        call_command("ledger_verify")
    assert exc.value.code == 1


def test_ledger_verify_reports_a_transfer_to_a_missing_account(accounts):
    from django.db import connection

    op, a, _b = accounts
    transfer_create(key="k", debit_account_id=op.pk, credit_account_id=a.pk, amount_fen=100, code="deposit")
    with connection.cursor() as cur:
        cur.execute("UPDATE ledger_transfer SET credit_account_id = 987654321 WHERE key = 'k'")
    assert any("missing account" in p for p in ledger_verify().problems)


def test_a_balance_reaches_2_to_the_63_minus_1_and_not_a_fen_more(create, accounts):
    """BIGINT's ceiling, reached for real (9,224 transfers of the largest allowed amount): the
    last fen that fits goes in, the next is refused with its own code on either side, and
    nothing overflows in the database."""
    op, a, b = accounts
    op2 = account_create(code="equity", ref="test:operator2")
    ceiling = engine.MAX_BALANCE
    full, rest = divmod(ceiling, engine.MAX_AMOUNT_FEN)
    amounts = [engine.MAX_AMOUNT_FEN] * full + [rest]
    for start in range(0, len(amounts), 1000):
        results = transfers_create(
            transfers=[
                TransferIn(
                    key=f"fill{n}",
                    debit_account_id=op.pk,
                    credit_account_id=a.pk,
                    amount_fen=amount,
                    code="deposit",
                )
                for n, amount in enumerate(amounts[start : start + 1000], start)
            ]
        )
        assert {r.result for r in results} == {"ok"}
    assert fresh(a).credits_posted == fresh(op).debits_posted == ceiling == 2**63 - 1

    more_credit = create(
        key="over-c", debit_account_id=op2.pk, credit_account_id=a.pk, amount_fen=1, code="deposit"
    )
    more_debit = create(
        key="over-d", debit_account_id=op.pk, credit_account_id=b.pk, amount_fen=1, code="deposit"
    )
    assert (more_credit.result, more_debit.result) == ("overflows_credits", "overflows_debits")
    assert not Transfer.objects.filter(key__in=["over-c", "over-d"]).exists()
    assert fresh(a).credits_posted == ceiling and fresh(b).credits_posted == 0
    # money still moves out of the full account, and the ledger still adds up
    assert (
        create(key="out", debit_account_id=a.pk, credit_account_id=b.pk, amount_fen=5, code="transfer").result
        == "ok"
    )
    assert fresh(a).available_fen == ceiling - 5
    assert ledger_verify().clean
