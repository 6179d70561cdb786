"""Reconciliation in the agent console: runs and items with filters and pages, and the resolve
actions (credit the missing deposit once, channel error with a note, a ticket), each audited."""

from __future__ import annotations

import pytest

from okwallet.core.models import AuditLogEntry
from okwallet.core.timeutil import now_utc, to_local
from okwallet.payments import services
from okwallet.payments.models import ReconciliationMismatch, ReconciliationRun, Transaction
from okwallet.payments.reconciliation import mismatch_settle, reconciliation_run
from okwallet.payments.selectors import wallet_summary

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/console/reconciliation/"


def row(txn_or_ref, amount_fen, channel_ref="42CH"):
    reference = getattr(txn_or_ref, "reference", txn_or_ref)
    return {
        "reference": reference,
        "channel_ref": getattr(txn_or_ref, "channel_ref", "") or channel_ref,
        "kind": "deposit",
        "amount_fen": amount_fen,
        "state": "SUCCESS",
    }


def pending_deposit(user, amount_fen, reference="T-PENDING-1"):
    services.wallet_ensure(user=user)
    return Transaction.objects.create(
        reference=reference,
        user=user,
        kind="deposit",
        amount_fen=amount_fen,
        method="alipay",
        channel="sandbox",
        channel_ref=f"42{reference}",
        ledger_key=f"dep:{reference}",
    )


@pytest.fixture
def day():
    return to_local(now_utc()).date()


@pytest.fixture
def run(verified_alice, fund, day):
    """Today's statement: one deposit matches, one differs, one is ours only, one theirs only,
    and one of our pending deposits the channel says was paid."""
    ok, differs, only_ours = fund(verified_alice, 100), fund(verified_alice, 200), fund(verified_alice, 300)
    stuck = pending_deposit(verified_alice, 1_500)
    rows = [row(ok, 100), row(differs, 250), row("T-THEIRS-ONLY", 999), row(stuck, 1_500)]
    assert only_ours
    return reconciliation_run(channel="sandbox", day=day, rows=rows)


def test_the_page_lists_runs_and_open_items_with_filters(client_for, agent, run, day):
    c = client_for(agent)
    html = c.get(PAGE).content.decode()
    assert day.isoformat() in html  # the daily run
    assert "T-THEIRS-ONLY" in html and "¥2.50" in html and "¥15.00" in html
    only = c.get(PAGE, {"kind": "amount_differs"}).content.decode()
    assert "¥2.50" in only and "T-THEIRS-ONLY" not in only
    assert "T-THEIRS-ONLY" in c.get(PAGE, {"q": "theirs-only"}).content.decode()
    assert "T-THEIRS-ONLY" not in c.get(PAGE, {"status": "resolved"}).content.decode()
    assert "T-THEIRS-ONLY" in c.get(PAGE, {"run": run.pk, "status": "all"}).content.decode()
    assert "T-THEIRS-ONLY" not in c.get(PAGE, {"from": "2000-01-01", "to": "2000-01-02"}).content.decode()
    assert c.get(PAGE, {"from": "not-a-date", "kind": "bogus", "run": "x", "page": "999"}).status_code == 200


def test_items_are_paginated(client_for, agent, day):
    from datetime import timedelta

    for n in range(30):
        reconciliation_run(
            channel="sandbox", day=day - timedelta(days=n + 1), rows=[row(f"T-X-{n:02d}", 100 + n)]
        )
    c = client_for(agent)
    first = c.get(PAGE).content.decode()
    assert 'rel="next"' in first and "T-X-00" not in first  # newest 25 first: T-X-29 … T-X-05
    second = c.get(PAGE, {"page": 2}).content.decode()
    assert "T-X-00" in second and 'rel="prev"' in second
    runs_page = c.get(PAGE, {"runs_page": 3}).content.decode()
    assert (day - timedelta(days=30)).isoformat() in runs_page


def test_credit_the_missing_deposit_once(client_for, agent, verified_alice, run):
    stuck = ReconciliationMismatch.objects.get(reference="T-PENDING-1")
    assert stuck.kind == "missing_ours"
    c = client_for(agent)
    detail = c.get(f"{PAGE}{stuck.pk}/").content.decode()
    assert f"{PAGE}{stuck.pk}/settle/" in detail and "王*明" in detail
    before = wallet_summary(verified_alice)["available_fen"]
    r = c.post(f"{PAGE}{stuck.pk}/settle/", {"note": "statement shows it paid"})
    assert r.status_code == 302
    c.post(f"{PAGE}{stuck.pk}/settle/", {})  # a second click
    assert mismatch_settle(mismatch_id=stuck.pk, actor=agent).status == "resolved"  # and a third
    assert wallet_summary(verified_alice)["available_fen"] == before + 1_500
    stuck.refresh_from_db()
    assert (stuck.status, stuck.resolution, stuck.resolved_by) == ("resolved", "credited", agent)
    txn = Transaction.objects.get(reference="T-PENDING-1")
    assert txn.status == "succeeded" and "reconciliation" in txn.events.last().note
    assert AuditLogEntry.objects.filter(action="payments.mismatch_settled", actor=agent).count() == 1


def test_a_missing_deposit_with_another_amount_is_not_credited(client_for, agent, verified_alice, day):
    pending_deposit(verified_alice, 1_500, reference="T-PENDING-2")
    reconciliation_run(channel="sandbox", day=day, rows=[row("T-PENDING-2", 1_600)])
    case = ReconciliationMismatch.objects.get(reference="T-PENDING-2")
    r = client_for(agent).post(f"{PAGE}{case.pk}/settle/", {}, follow=True)
    assert "金额与订单不符" in r.content.decode() or "differs from the order" in r.content.decode()
    case.refresh_from_db()
    assert case.status == "open" and wallet_summary(verified_alice)["available_fen"] == 0


def test_mark_as_channel_error_needs_a_note(client_for, agent, run):
    theirs = ReconciliationMismatch.objects.get(reference="T-THEIRS-ONLY")
    c = client_for(agent)
    c.post(f"{PAGE}{theirs.pk}/channel-error/", {"note": ""})
    theirs.refresh_from_db()
    assert theirs.status == "open"
    c.post(f"{PAGE}{theirs.pk}/channel-error/", {"note": "channel confirmed a test order"})
    theirs.refresh_from_db()
    assert (theirs.status, theirs.resolution) == ("resolved", "channel_error")
    entry = AuditLogEntry.objects.get(action="payments.mismatch_channel_error")
    assert entry.details["note"] == "channel confirmed a test order"
    assert f"{PAGE}{theirs.pk}/settle/" not in c.get(f"{PAGE}{theirs.pk}/").content.decode()


def test_open_a_ticket_once_and_link_it(client_for, agent, run):
    from okwallet.helpdesk.models import Ticket

    differs = ReconciliationMismatch.objects.get(kind="amount_differs")
    c = client_for(agent)
    c.post(f"{PAGE}{differs.pk}/ticket/")
    c.post(f"{PAGE}{differs.pk}/ticket/")
    differs.refresh_from_db()
    ticket = Ticket.objects.get()
    assert differs.ticket_number == ticket.number and "reconciliation" in ticket.tags
    assert ticket.facts["reference"] == differs.reference and ticket.customer is None
    assert f"/console/tickets/{ticket.number}/" in c.get(f"{PAGE}{differs.pk}/").content.decode()
    assert f"/console/tickets/{ticket.number}/" in c.get(PAGE).content.decode()
    assert AuditLogEntry.objects.filter(action="payments.mismatch_ticket").exists()


def test_a_blocked_reversal_is_an_ops_case_resolved_by_hand(
    client_for, agent, manager, verified_alice, verified_bob, fund
):
    from okwallet.core.errors import OkError
    from okwallet.payments.reversals import reversal_request

    deposit = fund(verified_alice, 1_000)
    services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=800)
    with pytest.raises(OkError):
        reversal_request(
            reference=deposit.reference,
            amount_fen=1_000,
            reason_code="chargeback",
            reason="card issuer chargeback",
            actor=manager,
        )
    c = client_for(agent)
    html = c.get(PAGE, {"kind": "reversal_blocked"}).content.decode()
    assert deposit.reference in html and "运营事项" in html
    case = ReconciliationMismatch.objects.get(kind="reversal_blocked")
    detail = c.get(f"{PAGE}{case.pk}/").content.decode()
    assert f"{PAGE}{case.pk}/settle/" not in detail  # nothing to credit here
    c.post(f"{PAGE}{case.pk}/resolve/", {"note": "customer repaid at the branch"})
    case.refresh_from_db()
    assert (case.status, case.resolution, case.resolved_by) == ("resolved", "manual", agent)


def test_reconciliation_is_for_staff_and_in_the_console_menu(client, client_for, agent, verified_alice, run):
    assert client_for(verified_alice).get(PAGE).status_code == 403
    case = ReconciliationMismatch.objects.first()
    assert (
        client_for(verified_alice).post(f"{PAGE}{case.pk}/channel-error/", {"note": "mine now"}).status_code
        == 403
    )
    assert client.get(PAGE).status_code == 302
    home = client_for(agent).get("/console/").content.decode()
    assert f'href="{PAGE}" data-shortcut="g r"' in home
    english = client_for(agent).get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h1>Reconciliation</h1>" in english and 'for="rc-q"' in english
    chinese = client_for(agent).get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "<h1>对账</h1>" in chinese
    assert ReconciliationRun.objects.count() == 1


def test_book_a_refund_the_channel_made_from_its_page(client_for, agent, verified_alice, fund):
    deposit = fund(verified_alice, 6_000)
    Transaction.objects.filter(pk=deposit.pk).update(channel="sandbox")
    day = to_local(deposit.settled_at).date()
    refund = {
        "reference": deposit.reference,
        "channel_ref": "RFLOST0001",
        "kind": "REFUND",
        "amount_fen": 2_000,
        "state": "REFUND",
    }
    run = reconciliation_run(channel="sandbox", day=day, rows=[row(deposit, 6_000), refund])
    item = run.items.get(kind="refund_ours")
    c = client_for(agent)
    detail = c.get(f"{PAGE}{item.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "补记渠道退款" in detail and "RFLOST0001" in detail and deposit.reference in detail
    assert c.post(f"{PAGE}{item.pk}/settle/", {"note": "渠道确认已退款"}).status_code == 302
    c.post(f"{PAGE}{item.pk}/settle/", {})  # a second click takes nothing more
    assert wallet_summary(verified_alice)["available_fen"] == 4_000
    item.refresh_from_db()
    assert (item.status, item.resolution, item.resolved_by) == ("resolved", "reversed", agent)
    assert item.resolution_note == "渠道确认已退款"
