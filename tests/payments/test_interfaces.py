"""The interfaces other apps build on (docs/interfaces.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from okwallet.core.hooks import collect_flat
from okwallet.payments import selectors
from okwallet.payments.models import Transaction
from okwallet.payments.self_check import deposit_self_check

pytestmark = pytest.mark.django_db(transaction=True)


def test_wallet_summary_is_zero_without_a_wallet(alice):
    assert selectors.wallet_summary(alice) == {
        "available_fen": 0,
        "pending_out_fen": 0,
        "pending_in_fen": 0,
        "currency": "CNY",
    }


def test_wallet_summary_and_records_show_a_credited_deposit(alice, fund):
    txn = fund(alice, 12_345)
    assert selectors.wallet_summary(alice)["available_fen"] == 12_345
    records = selectors.transactions_for(alice)
    assert [t.reference for t in records] == [txn.reference]
    t = records[0]
    assert (t.kind, t.status, t.amount_fen, t.method) == ("deposit", "succeeded", 12_345, "alipay")
    assert t.channel_ref and t.created_at


def test_bob_never_sees_alices_transactions(alice, bob, fund):
    txn = fund(alice, 100)
    assert selectors.transactions_for(bob) == []
    from okwallet.core.errors import NotFound

    with pytest.raises(NotFound):
        selectors.access_transaction(bob, txn.reference)


def test_transaction_by_reference_finds_ours_and_the_channels(alice, fund):
    txn = fund(alice, 100)
    assert selectors.transaction_by_reference(txn.reference) == txn
    assert selectors.transaction_by_reference(txn.channel_ref) == txn
    assert selectors.transaction_by_reference("nope") is None
    assert selectors.transaction_by_reference("") is None


def test_closure_blockers_name_the_balance_and_pending_payments(alice, fund):
    assert collect_flat("closure_blockers", alice) == []
    fund(alice, 100)
    codes = {b["code"] for b in collect_flat("closure_blockers", alice)}
    assert "wallet_balance" in codes
    Transaction.objects.create(
        reference="TPENDING1", user=alice, kind="deposit", amount_fen=5, method="alipay", channel="sandbox"
    )
    assert "payments_pending" in {b["code"] for b in collect_flat("closure_blockers", alice)}


def test_on_account_closed_unbinds_cards_and_closes_the_wallet(alice_card, verified_alice):
    from okwallet.core.hooks import collect
    from okwallet.ledger.models import Account

    collect("on_account_closed", verified_alice)
    alice_card.refresh_from_db()
    assert alice_card.status == "unbound"
    assert Account.objects.get(pk=verified_alice.wallet.account_id).closed


def _deposit(user, *, minutes_ago: float, took_s: float | None):
    from okwallet.core.timeutil import now_utc
    from okwallet.payments.services import new_reference

    created = now_utc() - timedelta(minutes=minutes_ago)
    t = Transaction.objects.create(
        reference=new_reference(),
        user=user,
        kind="deposit",
        amount_fen=100,
        method="card",
        channel="sandbox",
        status="succeeded" if took_s is not None else "pending",
    )
    Transaction.objects.filter(pk=t.pk).update(
        created_at=created, settled_at=created + timedelta(seconds=took_s) if took_s is not None else None
    )


def test_deposits_are_slow_when_the_last_hours_p95_is_well_above_the_weeks(alice):
    from django.core.cache import cache

    for day in range(1, 6):
        for _ in range(10):
            _deposit(alice, minutes_ago=day * 24 * 60, took_s=20)
    assert selectors.deposits_slow_now()["slow"] is False
    cache.clear()
    for _ in range(8):
        _deposit(alice, minutes_ago=30, took_s=900)
    slow = selectors.deposits_slow_now()
    assert slow["slow"] is True
    assert slow["p95_last_hour_s"] >= 900 > slow["p95_7d_s"] * 0 + 20
    notices = collect_flat("site_notices", None)
    assert notices and notices[0]["level"] == "warning"


def test_self_check_without_any_deposit_says_so_and_gives_advice(verified_alice):
    check = deposit_self_check(user=verified_alice)
    assert not check.solved
    assert "no_deposit_found" in {f["code"] for f in check.findings}
    assert check.advice


def test_self_check_flags_wrong_payment_details(verified_alice):
    check = deposit_self_check(
        user=verified_alice,
        reported={
            "holder_name": "李四",
            "card_number": "6225880000001234",
            "amount_fen": 10_000_000,
            "channel_error": "CARD_LIMIT",
        },
    )
    codes = {f["code"] for f in check.findings}
    assert {"holder_name_mismatch", "card_number_invalid", "amount_over_limit", "channel_error"} <= codes
    check = deposit_self_check(user=verified_alice, reported={"card_number": "4111111111111111"})
    assert "bank_not_supported" in {f["code"] for f in check.findings}


def test_self_check_reports_a_frozen_account(verified_alice):
    from okwallet.accounts.services import account_freeze

    account_freeze(user=verified_alice, reason="lost phone", channel="web")
    verified_alice.refresh_from_db()
    check = deposit_self_check(user=verified_alice)
    assert "account_frozen" in {f["code"] for f in check.findings}


def test_payment_class_page_shows_what_has_left_the_wallet(verified_alice, alice_card, sandbox, fund):
    from okwallet.accounts.paymentclass import payment_class_overview
    from okwallet.payments import services

    fund(verified_alice, 50_000)
    services.withdrawal_create(user=verified_alice, amount_fen=30_000, card_id=alice_card.pk)
    overview = payment_class_overview(verified_alice)
    assert overview["used_fen"] == 30_000
    assert overview["remaining_fen"] == overview["limit_fen"] - 30_000
