"""The channel notification endpoint: raw first, verified, idempotent, hostile input rejected."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from okwallet.ledger.models import Transfer
from okwallet.ledger.selectors import ledger_verify
from okwallet.payments import selectors, services
from okwallet.payments.models import ChannelMessage, Transaction
from okwallet.payments.sandbox_server import ensure_keys, sign_headers

from .conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pending_deposit(verified_alice, sandbox):
    sandbox.control(notify="drop")
    return services.deposit_create(user=verified_alice, amount_fen=8_800, method="alipay")


@pytest.fixture
def channel_key(sandbox_process):
    key, _public = ensure_keys(sandbox_process["dir"])
    return key


def body_for(txn, *, amount=None, event="TRANSACTION.SUCCESS", ref=None):
    return json.dumps(
        {
            "id": "EV1",
            "event_type": event,
            "resource": {
                "out_trade_no": ref or txn.reference,
                "transaction_id": txn.channel_ref,
                "amount_fen": txn.amount_fen if amount is None else amount,
                "trade_state": "SUCCESS",
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


def test_signed_notification_credits_once_and_duplicates_are_acknowledged(
    client, pending_deposit, channel_key
):
    body = body_for(pending_deposit)
    first = post(client, body, sign_headers(channel_key, body))
    assert first.status_code == 200 and first.json()["code"] == "SUCCESS"
    second = post(client, body, sign_headers(channel_key, body))  # the channel retries with a fresh signature
    assert second.status_code == 200
    assert selectors.wallet_summary(pending_deposit.user)["available_fen"] == 8_800
    assert Transfer.objects.filter(key=f"dep:{pending_deposit.reference}").count() == 1
    verdicts = list(ChannelMessage.objects.order_by("id").values_list("verdict", flat=True))
    assert verdicts == ["accepted", "duplicate"]
    assert ChannelMessage.objects.first().body == body.decode()
    assert ledger_verify().clean


def test_forged_signature_is_rejected_stored_and_never_credited(client, pending_deposit):
    from cryptography.hazmat.primitives.asymmetric import rsa

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = body_for(pending_deposit)
    response = post(client, body, sign_headers(forger, body))
    assert response.status_code == 401 and response.json()["code"] == "FAIL"
    msg = ChannelMessage.objects.get()
    assert (msg.verdict, msg.reason) == ("rejected", "bad_signature")
    assert selectors.wallet_summary(pending_deposit.user)["available_fen"] == 0


def test_tampered_amount_breaks_the_signature(client, pending_deposit, channel_key):
    body = body_for(pending_deposit)
    headers = sign_headers(channel_key, body)
    tampered = body_for(pending_deposit, amount=880_000)
    assert post(client, tampered, headers).status_code == 401
    assert ChannelMessage.objects.get().reason == "bad_signature"


def test_signed_but_wrong_amount_is_rejected(client, pending_deposit, channel_key):
    body = body_for(pending_deposit, amount=1)
    response = post(client, body, sign_headers(channel_key, body))
    assert response.status_code == 400
    assert ChannelMessage.objects.get().reason == "amount_mismatch"
    pending_deposit.refresh_from_db()
    assert pending_deposit.status == "pending"


def test_unknown_order_is_rejected(client, pending_deposit, channel_key):
    body = body_for(pending_deposit, ref="T000000000000000000")
    assert post(client, body, sign_headers(channel_key, body)).status_code == 404
    assert ChannelMessage.objects.get().reason == "unknown_order"


def test_replayed_request_and_stale_timestamps_are_rejected(client, pending_deposit, channel_key):
    body = body_for(pending_deposit)
    headers = sign_headers(channel_key, body)
    assert post(client, body, headers).status_code == 200
    assert post(client, body, headers).status_code == 401  # byte-for-byte the same request again
    old = sign_headers(channel_key, body, timestamp=int(time.time()) - 3600)
    assert post(client, body, old).status_code == 401
    assert list(ChannelMessage.objects.order_by("id").values_list("reason", flat=True)) == [
        "",
        "replayed",
        "stale_timestamp",
    ]
    assert Transfer.objects.filter(key=f"dep:{pending_deposit.reference}").count() == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"event_type": "TRANSACTION.SUCCESS"}',
        b'{"event_type": "X", "resource": {}}',
        b'{"event_type": "TRANSACTION.SUCCESS", "resource": {"out_trade_no": "T1", "amount_fen": "5"}}',
    ],
)
def test_malformed_notifications_are_rejected(client, channel_key, body, db):
    response = post(client, body, sign_headers(channel_key, body))
    assert response.status_code == 400
    assert ChannelMessage.objects.get().reason == "malformed"


def test_missing_signature_headers_are_rejected(client, pending_deposit):
    assert post(client, body_for(pending_deposit), {}).status_code == 401
    assert ChannelMessage.objects.get().reason == "missing_signature_headers"


def test_notification_endpoint_needs_no_csrf_token_but_only_accepts_post(client):
    url = reverse("payments:notify", kwargs={"channel": "sandbox"})
    assert client.get(url).status_code == 405


@pytest.fixture
def live_sandbox(live_server, settings, sandbox):
    settings.OKWALLET_PUBLIC_URL = live_server.url
    return sandbox


def test_end_to_end_the_channel_notifies_us_and_duplicates_credit_once(
    verified_alice, alice_card, live_sandbox
):
    live_sandbox.control(notify="duplicate")
    txn = services.deposit_create(
        user=verified_alice, amount_fen=30_000, method="card", card_id=alice_card.pk
    )
    wait_for(lambda: Transaction.objects.get(pk=txn.pk).status == "succeeded", timeout=15)
    wait_for(
        lambda: set(ChannelMessage.objects.values_list("verdict", flat=True)) == {"accepted", "duplicate"},
        timeout=15,
    )
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 30_000
    assert ledger_verify().clean


def test_end_to_end_reordered_notifications_settle_every_order(verified_alice, alice_card, live_sandbox):
    live_sandbox.control(notify="reorder", reorder_window_s=50)  # 0.5 s at the test time scale
    refs = [
        services.deposit_create(
            user=verified_alice, amount_fen=1_000 + i, method="card", card_id=alice_card.pk
        ).reference
        for i in range(3)
    ]
    wait_for(
        lambda: Transaction.objects.filter(reference__in=refs, status="succeeded").count() == 3, timeout=15
    )
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 3_003


def test_end_to_end_withdrawal_failure_notification_returns_the_money(
    verified_alice, alice_card, live_sandbox, fund
):
    fund(verified_alice, 5_000)
    live_sandbox.control(fail_payouts=True, fail_code="CARD_CLOSED", payout_delay_s=10)
    txn = services.withdrawal_create(user=verified_alice, amount_fen=5_000, card_id=alice_card.pk)
    wait_for(lambda: Transaction.objects.get(pk=txn.pk).status == "failed", timeout=15)
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 5_000
    assert ledger_verify().clean
