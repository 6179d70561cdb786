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
