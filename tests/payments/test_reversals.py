"""Reversals and refunds: a charged-back deposit, a mistaken transfer returned; partial, once,
never more than the original, never overdrawing a wallet, four eyes above the threshold."""

from __future__ import annotations

import json

import pytest

from okwallet.core.errors import OkError
from okwallet.core.models import AuditLogEntry, Notification
from okwallet.ledger.selectors import ledger_verify
from okwallet.payments import reversals, self_check, services
from okwallet.payments.models import ReconciliationMismatch, Reversal, Transaction
from okwallet.payments.selectors import wallet_summary

pytestmark = pytest.mark.django_db(transaction=True)


def balance(user) -> int:
    return wallet_summary(user)["available_fen"]


def reverse(txn, amount_fen, actor, **kw):
    kw.setdefault("reason_code", "chargeback")
    kw.setdefault("reason", "bank reported a chargeback on the card")
    return reversals.reversal_request(reference=txn.reference, amount_fen=amount_fen, actor=actor, **kw)


@pytest.fixture
def sent(verified_alice, verified_bob, fund):
    """alice sent ¥50 to bob by mistake (she had ¥100)."""
    fund(verified_alice, 10_000)
    return services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=5_000)


@pytest.fixture
def qian(make_staff):
    return make_staff("qian", "supervisor", "钱主管")


def test_charged_back_deposit_is_taken_back_in_part_then_in_full(verified_alice, manager, fund):
    deposit = fund(verified_alice, 10_000)
    rev = reverse(deposit, 3_000, manager)
    assert rev.status == Reversal.Status.COMPLETED
    assert balance(verified_alice) == 7_000
    deposit.refresh_from_db()
    assert deposit.status == Transaction.Status.SUCCEEDED  # partly reversed
    assert [e.step for e in deposit.events.all()][-1] == "reversed"
    record = rev.debit_txn
    assert (record.kind, record.amount_fen, record.original_id, record.user_id) == (
        "reversal",
        3_000,
        deposit.pk,
        verified_alice.pk,
    )
    assert record.is_outgoing
    assert Notification.objects.filter(user=verified_alice, kind="payments.reversal.succeeded").exists()
    entry = AuditLogEntry.objects.get(action="payments.reversal_requested")
    assert entry.details["reason"] == "bank reported a chargeback on the card"
    assert entry.actor_label == manager.get_username()

    reverse(deposit, 7_000, manager)
    deposit.refresh_from_db()
    assert deposit.status == Transaction.Status.REVERSED
    assert balance(verified_alice) == 0
    with pytest.raises(OkError) as again:
        reverse(deposit, 1, manager)
    assert (again.value.code, again.value.http_status) == ("already_reversed", 409)
    assert ledger_verify().clean


def test_reversals_never_add_up_to_more_than_the_original(verified_alice, manager, fund):
    deposit = fund(verified_alice, 10_000)
    with pytest.raises(OkError) as too_much:
        reverse(deposit, 10_001, manager)
    assert too_much.value.code == "reversal_exceeds_original"
    reverse(deposit, 4_000, manager)
    with pytest.raises(OkError) as rest:
        reverse(deposit, 6_001, manager)
    assert rest.value.code == "reversal_exceeds_original" and rest.value.details["left_fen"] == 6_000
    assert Reversal.objects.filter(status="completed").count() == 1
    assert balance(verified_alice) == 6_000


def test_a_wallet_that_spent_the_money_is_not_overdrawn_but_becomes_an_ops_case(
    verified_alice, verified_bob, manager, fund
):
    deposit = fund(verified_alice, 10_000)
    services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=8_000)
    with pytest.raises(OkError) as refused:
        reverse(deposit, 10_000, manager)
    assert (refused.value.code, refused.value.http_status) == ("insufficient_balance", 409)
    assert balance(verified_alice) == 2_000  # nothing moved
    rev = Reversal.objects.get()
    assert (rev.status, rev.failure_code) == ("failed", "insufficient_balance")
    case = ReconciliationMismatch.objects.get(kind="reversal_blocked")
    assert (case.status, case.run_id, case.transaction_id, case.ours_fen) == (
        "open",
        None,
        deposit.pk,
        10_000,
    )
    assert AuditLogEntry.objects.filter(action="payments.reversal_blocked").exists()
    deposit.refresh_from_db()
    assert deposit.status == "succeeded"
    from okwallet.core.hooks import collect_flat

    assert "reconciliation_open" in {b["code"] for b in collect_flat("closure_blockers", verified_alice)}

    # The customer tops up again; the reversal goes through and closes the case by itself.
    fund(verified_alice, 8_000)
    reverse(deposit, 10_000, manager)
    assert balance(verified_alice) == 0
    case.refresh_from_db()
    assert (case.status, case.resolution) == ("resolved", "reversed")
    assert ledger_verify().clean


def test_mistaken_transfer_goes_back_from_the_payee_to_the_sender(
    verified_alice, verified_bob, manager, sent
):
    incoming = Transaction.objects.get(kind="transfer_in")
    # The agent may start from either side of the transfer.
    rev = reverse(
        incoming, 5_000, manager, reason_code="mistaken_transfer", reason="wrong phone number typed"
    )
    assert (balance(verified_alice), balance(verified_bob)) == (10_000, 0)
    assert rev.original == sent
    bob_rec, alice_rec = rev.debit_txn, rev.credit_txn
    assert (bob_rec.user, bob_rec.kind, bob_rec.original) == (verified_bob, "reversal", incoming)
    assert (alice_rec.user, alice_rec.kind, alice_rec.original) == (verified_alice, "refund", sent)
    assert not alice_rec.is_outgoing
    for original in (sent, incoming):
        original.refresh_from_db()
        assert original.status == "reversed"
    assert Notification.objects.filter(user=verified_bob, kind="payments.reversal.succeeded").exists()
    assert Notification.objects.filter(user=verified_alice, kind="payments.refund.succeeded").exists()
    assert ledger_verify().clean


def test_refund_refused_when_the_payee_has_spent_it(
    verified_alice, verified_bob, manager, sent, make_customer
):
    from okwallet.accounts.services import realname_verify

    carol = make_customer("+8613800000003", name="Carol")
    realname_verify(user=carol, name="李华", id_number="44030519951120789X")
    services.p2p_transfer_create(payer=verified_bob, payee_id=carol.pk, amount_fen=4_500)
    with pytest.raises(OkError) as refused:
        reverse(sent, 5_000, manager, reason_code="mistaken_transfer", reason="wrong phone number typed")
    assert refused.value.code == "insufficient_balance"
    assert (balance(verified_alice), balance(verified_bob)) == (5_000, 500)
    case = ReconciliationMismatch.objects.get(kind="reversal_blocked")
    assert case.transaction.user == verified_bob  # whose wallet fell short
    # A part the payee still holds can be returned.
    reverse(sent, 500, manager, reason_code="mistaken_transfer", reason="wrong phone number typed")
    assert (balance(verified_alice), balance(verified_bob)) == (5_500, 0)


def test_only_senior_managers_and_supervisors_may_reverse(verified_alice, agent, fund):
    deposit = fund(verified_alice, 1_000)
    for who in (agent, verified_alice):
        with pytest.raises(OkError) as refused:
            reverse(deposit, 100, who)
        assert (refused.value.code, refused.value.http_status) == ("reversal_not_permitted", 403)
    assert not Reversal.objects.exists()


def test_a_large_reversal_waits_for_a_second_supervisor(
    settings, verified_alice, manager, supervisor, qian, fund
):
    settings.OKWALLET_REVERSAL_APPROVAL_FEN = 5_000
    deposit = fund(verified_alice, 10_000)
    rev = reverse(deposit, 6_000, manager)
    assert rev.status == "pending_approval" and rev.debit_txn is None
    assert balance(verified_alice) == 10_000
    with pytest.raises(OkError) as reserved:  # the waiting amount is reserved
        reverse(deposit, 5_000, manager)
    assert reserved.value.details["left_fen"] == 4_000
    with pytest.raises(OkError) as not_allowed:
        reversals.reversal_approve(reference=rev.reference, actor=manager)
    assert not_allowed.value.code == "approval_not_permitted"
    reversals.reversal_approve(reference=rev.reference, actor=supervisor, note="statement checked")
    rev.refresh_from_db()
    assert (rev.status, rev.decided_by) == ("completed", supervisor)
    assert balance(verified_alice) == 4_000
    with pytest.raises(OkError) as twice:
        reversals.reversal_approve(reference=rev.reference, actor=qian)
    assert twice.value.code == "reversal_not_pending"

    # Splitting into small parts does not avoid it: the running total counts.
    own = reverse(deposit, 1_000, supervisor)
    assert own.status == "pending_approval"
    with pytest.raises(OkError) as four_eyes:
        reversals.reversal_approve(reference=own.reference, actor=supervisor)
    assert four_eyes.value.code == "four_eyes_required"
    reversals.reversal_reject(reference=own.reference, actor=qian, note="customer disputes it")
    own.refresh_from_db()
    assert own.status == "rejected"
    assert reversals.reversible_fen(deposit) == 4_000  # a rejection frees the amount
    actions = set(AuditLogEntry.objects.values_list("action", flat=True))
    assert {"payments.reversal_approved", "payments.reversal_rejected"} <= actions


def test_the_same_form_sent_twice_reverses_once(verified_alice, manager, fund):
    deposit = fund(verified_alice, 1_000)
    first = reverse(deposit, 300, manager, key="form-1")
    again = reverse(deposit, 300, manager, key="form-1")
    assert first.pk == again.pk and balance(verified_alice) == 700
    with pytest.raises(OkError) as other:
        reverse(deposit, 200, manager, key="form-1")
    assert other.value.code == "idempotency_key_reused"


def test_pending_failed_and_withdrawals_are_not_reversible(verified_alice, manager):
    services.wallet_ensure(user=verified_alice)
    for kind, status in [("deposit", "pending"), ("deposit", "failed"), ("withdrawal", "succeeded")]:
        txn = Transaction.objects.create(
            reference=f"TX-{kind}-{status}",
            user=verified_alice,
            kind=kind,
            status=status,
            amount_fen=100,
            method="card",
        )
        with pytest.raises(OkError) as refused:
            reverse(txn, 100, manager)
        assert refused.value.code == "not_reversible"
    with pytest.raises(OkError) as missing:
        reversals.reversal_request(
            reference="NOPE", amount_fen=1, reason_code="other", reason="nothing here", actor=manager
        )
    assert missing.value.http_status == 404


def test_a_late_duplicate_callback_does_not_undo_a_reversal(verified_alice, manager, fund):
    deposit = fund(verified_alice, 1_000)
    reverse(deposit, 1_000, manager)
    txn, applied = services.deposit_settle(reference=deposit.reference, amount_fen=1_000, source="callback")
    assert applied is False and txn.status == "reversed"
    assert balance(verified_alice) == 0


def test_self_check_explains_a_reversed_deposit(verified_alice, manager, fund):
    deposit = fund(verified_alice, 1_000)
    reverse(deposit, 1_000, manager)
    check = self_check.deposit_self_check(user=verified_alice, reference=deposit.reference)
    assert "deposit_reversed" in {f["code"] for f in check.findings}


# --- API for agents ----------------------------------------------------------------------------


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client, path, body, token, **headers):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", **bearer(token), **headers
    )


def test_agents_api_reverses_shows_and_approves(
    settings, client, verified_alice, manager, supervisor, agent, api_token_for, fund
):
    settings.OKWALLET_REVERSAL_APPROVAL_FEN = 5_000
    deposit = fund(verified_alice, 10_000)
    body = {"amount_fen": 2_000, "reason_code": "channel_refund", "reason": "Alipay refunded the payer"}
    path = f"/api/v1/staff/transactions/{deposit.reference}/reversals"
    r = post(client, path, body, api_token_for(manager), HTTP_IDEMPOTENCY_KEY="rev-1")
    assert r.status_code == 201 and r.json()["status"] == "completed", r.content
    assert len(r.json()["records"]) == 1
    replay = post(client, path, body, api_token_for(manager), HTTP_IDEMPOTENCY_KEY="rev-1")
    assert replay.status_code == 201 and replay.json() == r.json() and replay["Idempotent-Replayed"] == "true"
    assert balance(verified_alice) == 8_000

    r = post(client, path, {**body, "amount_fen": 6_000}, api_token_for(manager))
    assert r.json()["status"] == "pending_approval"
    waiting = r.json()["reference"]
    shown = client.get(
        f"/api/v1/staff/transactions/{deposit.reference}", **bearer(api_token_for(agent))
    ).json()
    assert shown["reversible_fen"] == 2_000
    assert {x["status"] for x in shown["reversals"]} == {"completed", "pending_approval"}
    refused = post(client, path, body, api_token_for(agent))
    assert refused.status_code == 403 and refused.json()["code"] == "reversal_not_permitted"
    r = post(client, f"/api/v1/staff/reversals/{waiting}/approve", {"note": "ok"}, api_token_for(supervisor))
    assert r.status_code == 200 and r.json()["status"] == "completed"
    assert balance(verified_alice) == 2_000
    r = post(
        client, f"/api/v1/staff/reversals/{waiting}/reject", {"note": "too late"}, api_token_for(supervisor)
    )
    assert r.status_code == 409 and r.json()["code"] == "reversal_not_pending"


def test_customers_cannot_use_the_agents_api(client, verified_alice, api_token_for, fund):
    deposit = fund(verified_alice, 1_000)
    token = api_token_for(verified_alice)
    assert client.get(f"/api/v1/staff/transactions/{deposit.reference}", **bearer(token)).status_code == 403
    r = post(
        client,
        f"/api/v1/staff/transactions/{deposit.reference}/reversals",
        {"amount_fen": 100, "reason_code": "other", "reason": "let me have it"},
        token,
    )
    assert r.status_code == 403 and balance(verified_alice) == 1_000


# --- console and portal pages -------------------------------------------------------------------


def test_console_transaction_page_reverses_with_a_button(client_for, verified_alice, manager, agent, fund):
    deposit = fund(verified_alice, 10_000)
    page = client_for(manager).get(f"/console/transactions/{deposit.reference}/")
    html = page.content.decode()
    assert page.status_code == 200 and 'name="form_key"' in html and "王*明" in html
    assert "13800000001" not in html  # the phone is masked
    key = html.split('name="form_key" value="')[1].split('"')[0]
    form = {
        "amount": "25.50",
        "reason_code": "chargeback",
        "reason": "card issuer chargeback",
        "form_key": key,
    }
    c = client_for(manager)
    r = c.post(f"/console/transactions/{deposit.reference}/reverse/", form)
    assert r.status_code == 302
    c.post(f"/console/transactions/{deposit.reference}/reverse/", form)  # a double click
    assert balance(verified_alice) == 10_000 - 2_550
    assert Reversal.objects.count() == 1
    shown = c.get(r["Location"]).content.decode()
    assert "¥25.50" in shown and "card issuer chargeback" in shown

    agent_view = client_for(agent).get(f"/console/transactions/{deposit.reference}/").content.decode()
    assert 'name="form_key"' not in agent_view
    r = client_for(agent).post(
        f"/console/transactions/{deposit.reference}/reverse/", {**form, "form_key": "x"}
    )
    assert Reversal.objects.count() == 1  # refused, with a message


def test_console_approval_buttons_and_customer_records(
    settings, client_for, verified_alice, manager, supervisor, fund
):
    settings.OKWALLET_REVERSAL_APPROVAL_FEN = 1_000
    deposit = fund(verified_alice, 5_000)
    rev = reverse(deposit, 5_000, manager)
    html = client_for(supervisor).get(f"/console/transactions/{deposit.reference}/").content.decode()
    assert f"/console/reversals/{rev.reference}/approve/" in html
    assert f"/console/reversals/{rev.reference}/approve/" not in (
        client_for(manager).get(f"/console/transactions/{deposit.reference}/").content.decode()
    )
    client_for(supervisor).post(
        f"/console/reversals/{rev.reference}/approve/", {"note": "seen the chargeback"}
    )
    rev.refresh_from_db()
    assert rev.status == "completed"

    c = client_for(verified_alice)
    detail = c.get(f"/wallet/records/{deposit.reference}/").content.decode()
    assert 'data-testid="status">已冲正' in detail or 'data-testid="status">Reversed' in detail
    record = c.get(f"/wallet/records/{rev.debit_txn.reference}/").content.decode()
    assert deposit.reference in record
    listing = c.get("/wallet/records/?kind=reversal").content.decode()
    assert rev.debit_txn.reference in listing and "-¥50.00" in listing


def test_customer_360_links_to_the_console_transaction(client_for, verified_alice, agent, fund):
    deposit = fund(verified_alice, 100)
    html = client_for(agent).get(f"/console/customers/{verified_alice.public_id}/").content.decode()
    assert f'href="/console/transactions/{deposit.reference}/"' in html


def test_customer_360_names_kinds_and_statuses_in_the_agents_language(
    client_for, verified_alice, agent, fund
):
    import re

    fund(verified_alice, 100)
    c = client_for(agent)
    for language, kind, status in (("zh-hans", "充值", "成功"), ("en", "Deposit", "Succeeded")):
        html = c.get(f"/console/customers/{verified_alice.public_id}/", HTTP_ACCEPT_LANGUAGE=language)
        row = re.search(r'<table class="c360-txns">.*?</table>', html.content.decode(), re.S).group(0)
        cells = re.findall(r"<td>([^<]*)</td>", row)
        assert kind in cells and status in cells and "deposit" not in cells and "succeeded" not in cells


def test_console_transaction_pages_are_for_staff_only(client_for, verified_alice, bob, fund):
    deposit = fund(verified_alice, 100)
    for who in (verified_alice, bob):
        assert client_for(who).get(f"/console/transactions/{deposit.reference}/").status_code == 403
