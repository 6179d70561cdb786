"""Daily reconciliation: the sandbox's statement CSV against our settled transactions."""

from __future__ import annotations

import pytest

from okwallet.core.models import AuditLogEntry
from okwallet.core.timeutil import now_utc, to_local
from okwallet.payments import services
from okwallet.payments.models import ReconciliationMismatch, Transaction
from okwallet.payments.reconciliation import mismatch_resolve, reconciliation_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_statement_matches_our_settled_deposits(verified_alice, alice_card, sandbox):
    sandbox.control(notify="drop")
    txn = services.deposit_create(user=verified_alice, amount_fen=1_500, method="card", card_id=alice_card.pk)
    services.pending_orders_query(older_than_minutes=0)
    day = to_local(now_utc()).date()
    rows = sandbox.statement(day=day)
    assert any(r["reference"] == txn.reference and r["amount_fen"] == 1_500 for r in rows)
    run = reconciliation_run(channel="sandbox", day=day)
    ours = [i for i in run.items.all() if i.reference == txn.reference]
    assert ours == []


def test_mismatches_are_listed_and_resolving_is_audited(verified_alice, manager, fund):
    ok = fund(verified_alice, 100)
    differs = fund(verified_alice, 200)
    only_ours = fund(verified_alice, 300)
    Transaction.objects.filter(pk__in=[ok.pk, differs.pk, only_ours.pk]).update(channel="sandbox")
    day = to_local(ok.settled_at).date()
    rows = [
        {
            "reference": ok.reference,
            "channel_ref": ok.channel_ref,
            "kind": "deposit",
            "amount_fen": 100,
            "state": "SUCCESS",
        },
        {
            "reference": differs.reference,
            "channel_ref": differs.channel_ref,
            "kind": "deposit",
            "amount_fen": 250,
            "state": "SUCCESS",
        },
        {
            "reference": "T-THEIRS-ONLY",
            "channel_ref": "42X",
            "kind": "deposit",
            "amount_fen": 999,
            "state": "SUCCESS",
        },
    ]
    run = reconciliation_run(channel="sandbox", day=day, rows=rows)
    kinds = {(i.kind, i.reference) for i in run.items.all()}
    assert kinds == {
        ("amount_differs", differs.reference),
        ("missing_ours", "T-THEIRS-ONLY"),
        ("missing_theirs", only_ours.reference),
    }
    item = run.items.get(kind="missing_ours")
    mismatch_resolve(mismatch_id=item.pk, actor=manager, note="refunded by the channel")
    assert AuditLogEntry.objects.filter(action="payments.mismatch_resolved").exists()
    again = reconciliation_run(channel="sandbox", day=day, rows=rows)  # re-run keeps the resolution
    assert again.items.filter(status="resolved").count() == 1
    assert again.items.count() == 3
    from okwallet.core.hooks import collect_flat

    assert "reconciliation_open" in {b["code"] for b in collect_flat("closure_blockers", verified_alice)}
    assert ReconciliationMismatch.objects.filter(status="open").count() == 2


def _paid_by_query(user, card, amount_fen):
    """A card top-up whose notification was lost, settled by our active query."""
    txn = services.deposit_create(user=user, amount_fen=amount_fen, method="card", card_id=card.pk)
    services.pending_orders_query(older_than_minutes=0)
    txn.refresh_from_db()
    assert txn.status == "succeeded"
    return txn


def test_a_refund_whose_notification_was_lost_is_found_and_booked_once(
    verified_alice, alice_card, manager, sandbox
):
    from okwallet.ledger.selectors import ledger_verify
    from okwallet.payments import selectors
    from okwallet.payments.models import Reversal
    from okwallet.payments.reconciliation import mismatch_settle

    sandbox.control(notify="drop")
    deposit = _paid_by_query(verified_alice, alice_card, 8_000)
    refund_no = sandbox.simulate_refund(reference=deposit.reference, amount_fen=3_000, reason="chargeback")[
        "out_refund_no"
    ]
    assert not Reversal.objects.exists()  # the notification never came
    day = to_local(now_utc()).date()
    line = [r for r in sandbox.statement(day=day) if r["channel_ref"] == refund_no]
    assert line == [
        {
            "reference": deposit.reference,
            "channel_ref": refund_no,
            "kind": "CHARGEBACK",
            "amount_fen": 3_000,
            "state": "REFUND",
        }
    ]

    run = reconciliation_run(channel="sandbox", day=day)
    item = run.items.get(reference=refund_no)
    assert (item.kind, item.channel_ref, item.channel_kind, item.theirs_fen, item.ours_fen) == (
        "refund_ours",
        deposit.reference,
        "CHARGEBACK",
        3_000,
        None,
    )
    assert item.transaction_id == deposit.pk
    assert not run.items.filter(reference=deposit.reference).exists()  # the top-up itself matches

    mismatch_settle(mismatch_id=item.pk, actor=manager)
    rev = Reversal.objects.get(channel_refund_id=refund_no)
    assert (rev.original_id, rev.amount_fen, rev.reason_code, rev.status) == (
        deposit.pk,
        3_000,
        "chargeback",
        "completed",
    )
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 5_000
    item.refresh_from_db()
    assert (item.status, item.resolution) == ("resolved", "reversed")
    assert AuditLogEntry.objects.filter(action="payments.mismatch_refund_booked").count() == 1

    mismatch_settle(mismatch_id=item.pk, actor=manager)  # again: nothing more is taken
    again = reconciliation_run(channel="sandbox", day=day)  # now booked: no open refund item
    assert not again.items.filter(reference=refund_no, status="open").exists()
    assert Reversal.objects.filter(channel_refund_id=refund_no).count() == 1
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 5_000
    assert ledger_verify().clean


def test_refunds_on_the_statement_are_matched_by_refund_number(verified_alice, fund):
    from okwallet.payments.reversals import reversal_from_channel

    deposit = fund(verified_alice, 10_000)
    Transaction.objects.filter(pk=deposit.pk).update(channel="sandbox")
    matched, _ = reversal_from_channel(reference=deposit.reference, amount_fen=1_000, refund_id="RFMATCHED")
    differs, _ = reversal_from_channel(reference=deposit.reference, amount_fen=2_000, refund_id="RFDIFFERS")
    unlisted, _ = reversal_from_channel(reference=deposit.reference, amount_fen=500, refund_id="RFUNLISTED")
    day = to_local(deposit.settled_at).date()
    top_up = {
        "reference": deposit.reference,
        "channel_ref": deposit.channel_ref,
        "kind": "deposit",
        "amount_fen": 10_000,
        "state": "SUCCESS",
    }
    rows = [
        top_up,
        {
            "reference": deposit.reference,
            "channel_ref": "RFMATCHED",
            "kind": "REFUND",
            "amount_fen": 1_000,
            "state": "REFUND",
        },
        {
            "reference": deposit.reference,
            "channel_ref": "RFDIFFERS",
            "kind": "REFUND",
            "amount_fen": 2_500,
            "state": "REFUND",
        },
    ]
    run = reconciliation_run(channel="sandbox", day=day, rows=rows)
    found = {(i.kind, i.reference, i.ours_fen, i.theirs_fen) for i in run.items.all()}
    assert found == {
        ("amount_differs", "RFDIFFERS", 2_000, 2_500),
        ("refund_theirs", "RFUNLISTED", 500, None),
    }
    assert (run.rows_theirs, run.rows_ours) == (3, 4)  # one top-up and its refunds on each side


def test_a_refund_booked_on_the_next_day_is_not_missing(verified_alice, fund):
    """Refunded just before midnight, notified just after: the statement has it on one day, our
    books on the next. The statement's day finds it booked (by refund number): no item."""
    from datetime import timedelta

    from okwallet.payments.reversals import reversal_from_channel

    deposit = fund(verified_alice, 4_000)
    Transaction.objects.filter(pk=deposit.pk).update(channel="sandbox")
    rev, _ = reversal_from_channel(reference=deposit.reference, amount_fen=1_000, refund_id="RFMIDNIGHT")
    day = to_local(rev.requested_at).date() - timedelta(days=1)  # the statement's day
    line = {
        "reference": deposit.reference,
        "channel_ref": "RFMIDNIGHT",
        "kind": "REFUND",
        "amount_fen": 1_000,
        "state": "REFUND",
    }
    run = reconciliation_run(channel="sandbox", day=day, rows=[line])
    assert not run.items.filter(reference="RFMIDNIGHT").exists()
