"""The channel reports a refund or chargeback of a posted deposit: stored raw, verified, booked once
as a reversal to the channel's clearing account (no staff, no approval), or an ops case when the
wallet no longer holds the money."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from okwallet.core.models import AuditLogEntry
from okwallet.ledger.selectors import ledger_verify
from okwallet.payments import selectors, services
from okwallet.payments.models import ChannelMessage, ReconciliationMismatch, Reversal, Transaction
from okwallet.payments.sandbox_server import ensure_keys, sign_headers

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel_key(sandbox_process):
    key, _public = ensure_keys(sandbox_process["dir"])
    return key


def refund_body(txn, amount_fen, refund_no="RF0001", reason="chargeback"):
    return json.dumps(
        {
            "id": "EV-" + refund_no,
            "event_type": "REFUND.SUCCESS",
            "resource": {
                "out_trade_no": txn.reference,
                "transaction_id": txn.channel_ref,
                "out_refund_no": refund_no,
                "amount_fen": amount_fen,
                "refund_reason": reason,
            },
        }
    ).encode()


def post(client, body: bytes, headers: dict):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return client.post(
        reverse("payments:notify", kwargs={"channel": "sandbox"}),
        data=body,
        content_type="application/json",
        **extra,
    )


def test_a_reported_chargeback_is_booked_once_without_staff(client, verified_alice, fund, channel_key):
    deposit = fund(verified_alice, 10_000)
    body = refund_body(deposit, 3_000)
    assert post(client, body, sign_headers(channel_key, body)).status_code == 200
    again = post(client, body, sign_headers(channel_key, body))  # the channel retries, fresh signature
    assert again.status_code == 200
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 7_000
    rev = Reversal.objects.get()
    assert (rev.requested_by_id, rev.reason_code, rev.status, rev.channel_refund_id) == (
        None,
        "chargeback",
        "completed",
        "RF0001",
    )
    assert list(ChannelMessage.objects.order_by("id").values_list("verdict", flat=True)) == [
        "accepted",
        "duplicate",
    ]
    assert AuditLogEntry.objects.filter(action="payments.reversal_reported", actor=None).count() == 1
    record = rev.debit_txn
    assert (record.kind, record.amount_fen, record.user_id) == ("reversal", 3_000, verified_alice.pk)
    deposit.refresh_from_db()
    assert deposit.status == "succeeded" and [e.step for e in deposit.events.all()][-1] == "reversed"
    # The rest, under another refund number: the deposit is reversed in full.
    rest = refund_body(deposit, 7_000, refund_no="RF0002", reason="refund")
    assert post(client, rest, sign_headers(channel_key, rest)).status_code == 200
    deposit.refresh_from_db()
    assert deposit.status == Transaction.Status.REVERSED
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 0
    assert Reversal.objects.get(channel_refund_id="RF0002").reason_code == "channel_refund"
    assert ledger_verify().clean


def test_a_refund_number_reused_with_another_amount_or_more_than_the_deposit_is_refused(
    client, verified_alice, fund, channel_key
):
    deposit = fund(verified_alice, 10_000)
    first = refund_body(deposit, 1_000)
    assert post(client, first, sign_headers(channel_key, first)).status_code == 200
    other = refund_body(deposit, 2_000)  # same refund number, other amount
    assert post(client, other, sign_headers(channel_key, other)).status_code == 400
    too_much = refund_body(deposit, 9_500, refund_no="RF0009")
    assert post(client, too_much, sign_headers(channel_key, too_much)).status_code == 400
    reasons = list(ChannelMessage.objects.order_by("id").values_list("reason", flat=True))
    assert reasons[1:] == ["refund_mismatch", "reversal_exceeds_original"]
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 9_000


def test_a_chargeback_the_wallet_cannot_cover_opens_an_ops_case_and_is_acknowledged(
    client, verified_alice, verified_bob, fund, channel_key
):
    deposit = fund(verified_alice, 10_000)
    services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=9_000)
    body = refund_body(deposit, 5_000)
    assert post(client, body, sign_headers(channel_key, body)).status_code == 200  # booked as a case
    rev = Reversal.objects.get()
    assert (rev.status, rev.failure_code) == ("failed", "insufficient_balance")
    case = ReconciliationMismatch.objects.get(kind="reversal_blocked")
    assert case.reference == deposit.reference and case.status == "open"
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 1_000  # never overdrawn
    assert ledger_verify().clean


def test_the_sandbox_bank_reports_a_refund_to_the_running_app(
    live_server, settings, verified_alice, alice_card, sandbox
):
    settings.OKWALLET_PUBLIC_URL = live_server.url
    txn = services.deposit_create(
        user=verified_alice, amount_fen=20_000, method="card", card_id=alice_card.pk
    )
    wait_for(lambda: Transaction.objects.get(pk=txn.pk).status == "succeeded")
    sandbox.simulate_refund(reference=txn.reference, amount_fen=5_000, reason="refund")
    wait_for(lambda: Reversal.objects.filter(original=txn, status="completed").exists())
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 15_000
    rev = Reversal.objects.get(original=txn)
    assert rev.channel_refund_id.startswith("RF") and rev.reason_code == "channel_refund"
    assert ledger_verify().clean
