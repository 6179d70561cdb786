"""Idempotency-Key on the money API: a retry gets the first answer and moves nothing again; the
same key for another request, or while the first still runs, is refused; keys are per customer
and expire after 24 hours."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connections

from okwallet.core.timeutil import now_utc
from okwallet.payments import services
from okwallet.payments.idempotency import (
    STALE_AFTER,
    idempotency_claim,
    idempotency_keys_purge,
    request_fingerprint,
)
from okwallet.payments.models import IdempotencyKey, Transaction
from okwallet.payments.selectors import wallet_summary
from tests.payments.test_api_and_pages import pass_step_up

pytestmark = pytest.mark.django_db(transaction=True)

TRANSFERS = "/api/v1/wallet/transfers"


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def send(client, token, body, key=None, path=TRANSFERS, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(
        path, data=json.dumps(body), content_type="application/json", **bearer(token), **headers, **extra
    )


def sent_count(user) -> int:
    return Transaction.objects.filter(user=user, kind="transfer_out").count()


@pytest.fixture
def alice_pays_bob(verified_alice, verified_bob, fund):
    """alice has ¥100 and has paid bob before (no step-up for him any more)."""
    fund(verified_alice, 10_000)
    services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=100)
    return {"payee_id": verified_bob.pk, "amount_fen": 1_000}


def test_a_retry_with_the_same_key_gets_the_first_answer_and_moves_once(
    client, verified_alice, api_token_for, alice_pays_bob
):
    token = api_token_for(verified_alice)
    first = send(client, token, alice_pays_bob, key="pay-bob-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    retry = send(client, token, alice_pays_bob, key="pay-bob-1")
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.content == first.content  # byte for byte
    # The same request with other whitespace and key order is the same request.
    reordered = client.post(
        TRANSFERS,
        data=f'{{ "amount_fen": 1000,  "payee_id": {alice_pays_bob["payee_id"]} }}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="pay-bob-1",
        **bearer(token),
    )
    assert reordered.status_code == 201 and reordered.content == first.content
    assert sent_count(verified_alice) == 2  # the seeding transfer and this one
    assert wallet_summary(verified_alice)["available_fen"] == 10_000 - 100 - 1_000


def test_the_same_key_for_another_request_is_refused(client, verified_alice, api_token_for, alice_pays_bob):
    token = api_token_for(verified_alice)
    assert send(client, token, alice_pays_bob, key="k-1").status_code == 201
    other = send(client, token, {**alice_pays_bob, "amount_fen": 2_000}, key="k-1")
    assert other.status_code == 422
    body = other.json()
    assert body["code"] == "idempotency_key_reused" and set(body) == {"code", "message", "details"}
    assert "已用于另一个不同的请求" in body["message"]  # zh-Hans first
    english = send(
        client, token, {**alice_pays_bob, "amount_fen": 2_000}, key="k-1", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "already used for a different request" in english.json()["message"]
    assert sent_count(verified_alice) == 2


def test_keys_belong_to_one_customer(
    client, verified_alice, verified_bob, api_token_for, alice_pays_bob, fund
):
    fund(verified_bob, 5_000)
    services.p2p_transfer_create(payer=verified_bob, payee_id=verified_alice.pk, amount_fen=100)
    a = send(client, api_token_for(verified_alice), alice_pays_bob, key="shared-key")
    b = send(
        client,
        api_token_for(verified_bob),
        {"payee_id": verified_alice.pk, "amount_fen": 700},
        key="shared-key",
    )
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b  # bob's own request, not alice's stored answer
    assert b.json()["amount_fen"] == 700 and b.json()["reference"] != a.json()["reference"]


def test_without_the_header_every_request_runs(client, verified_alice, api_token_for, alice_pays_bob):
    token = api_token_for(verified_alice)
    assert send(client, token, alice_pays_bob).status_code == 201
    assert send(client, token, alice_pays_bob).status_code == 201
    assert sent_count(verified_alice) == 3
    assert not IdempotencyKey.objects.exists()


def test_refusals_are_replayed_but_try_again_answers_free_the_key(
    client, verified_alice, verified_bob, api_token_for, alice_pays_bob, make_customer, fund
):
    token = api_token_for(verified_alice)
    broke = send(client, token, {**alice_pays_bob, "amount_fen": 50_000}, key="too-much")
    assert broke.status_code == 409 and broke.json()["code"] == "insufficient_balance"
    fund(verified_alice, 100_000)
    again = send(client, token, {**alice_pays_bob, "amount_fen": 50_000}, key="too-much")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true"  # the same story

    from okwallet.accounts.services import realname_verify

    carol = make_customer("+8613800000003", name="Carol")
    realname_verify(user=carol, name="李华", id_number="44030519951120789X")
    new_payee = {"payee_id": carol.pk, "amount_fen": 500}
    r = send(client, token, new_payee, key="to-carol")
    assert r.status_code == 403 and r.json()["code"] == "step_up_required"
    pass_step_up(client, verified_alice, "new_payee", **bearer(token))
    r = send(client, token, new_payee, key="to-carol")  # the same key, after the security check
    assert r.status_code == 201 and "Idempotent-Replayed" not in r


def test_a_duplicate_while_the_first_still_runs_is_refused(
    client, verified_alice, api_token_for, alice_pays_bob
):
    token = api_token_for(verified_alice)
    body = json.dumps(alice_pays_bob).encode()
    # The first request has claimed the key and is still running (its row is "in progress").
    idempotency_claim(
        user=verified_alice,
        key="slow-1",
        fingerprint=request_fingerprint(method="POST", path=TRANSFERS, body=body),
    )
    r = send(client, token, alice_pays_bob, key="slow-1")
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_in_progress"
    assert r["Retry-After"] == "1"
    # A first request that died long ago is never re-run: the client must look at its records.
    IdempotencyKey.objects.filter(key="slow-1").update(
        created_at=now_utc() - STALE_AFTER - timedelta(seconds=1)
    )
    r = send(client, token, alice_pays_bob, key="slow-1")
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_interrupted"
    assert sent_count(verified_alice) == 1


def test_keys_expire_after_a_day_and_are_purged(client, verified_alice, api_token_for, alice_pays_bob):
    token = api_token_for(verified_alice)
    assert send(client, token, alice_pays_bob, key="old").status_code == 201
    IdempotencyKey.objects.filter(key="old").update(
        created_at=now_utc() - timedelta(hours=25), expires_at=now_utc() - timedelta(hours=1)
    )
    fresh = send(client, token, {**alice_pays_bob, "amount_fen": 200}, key="old")  # forgotten: a new request
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh
    send(client, token, alice_pays_bob, key="stale")
    IdempotencyKey.objects.filter(key="stale").update(expires_at=now_utc() - timedelta(seconds=1))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["old"]
    from okwallet.payments import tasks

    assert callable(tasks.payments_idempotency_purge)


def test_a_malformed_key_is_a_clear_400(client, verified_alice, api_token_for, alice_pays_bob):
    token = api_token_for(verified_alice)
    for key in ("x" * 256, "with space", ""):
        r = send(client, token, alice_pays_bob, key=key)
        assert r.status_code == 400 and r.json()["code"] == "idempotency_key_invalid", key
    assert sent_count(verified_alice) == 1


def test_the_schema_documents_the_header_on_money_endpoints():
    from okwallet.api.api import api

    paths = api.get_openapi_schema(path_prefix="/api/v1/")["paths"]
    for path in (
        "/api/v1/wallet/deposits",
        "/api/v1/wallet/withdrawals",
        "/api/v1/wallet/transfers",
        "/api/v1/staff/transactions/{reference}/reversals",
    ):
        names = [p["name"] for p in paths[path]["post"]["parameters"] if p["in"] == "header"]
        assert names == ["Idempotency-Key"], path
    lookup = paths["/api/v1/wallet/payees/lookup"]["post"].get("parameters", [])
    assert "Idempotency-Key" not in [p["name"] for p in lookup]  # moves no money


def test_deposit_and_withdrawal_retries_create_one_order(
    client, verified_alice, alice_card, api_token_for, fund
):
    fund(verified_alice, 10_000)
    token = api_token_for(verified_alice)
    deposit = {"amount_fen": 1_234, "method": "alipay"}
    one = send(client, token, deposit, key="dep-1", path="/api/v1/wallet/deposits")
    two = send(client, token, deposit, key="dep-1", path="/api/v1/wallet/deposits")
    assert one.status_code == two.status_code == 201 and one.content == two.content
    assert Transaction.objects.filter(kind="deposit", amount_fen=1_234).count() == 1

    pass_step_up(client, verified_alice, "withdrawal", **bearer(token))
    payout = {"amount_fen": 2_000, "card_id": alice_card.pk}
    one = send(client, token, payout, key="wd-1", path="/api/v1/wallet/withdrawals")
    assert one.status_code == 201, one.content
    # The retry needs no second security check and holds no second amount.
    two = send(client, token, payout, key="wd-1", path="/api/v1/wallet/withdrawals")
    assert two.status_code == 201 and two.content == one.content
    assert Transaction.objects.filter(kind="withdrawal").count() == 1
    assert wallet_summary(verified_alice)["pending_out_fen"] in (0, 2_000)


# --- concurrency on PostgreSQL ------------------------------------------------------------------


def _client_call(token, body, key, results, index):
    from django.test import Client

    try:
        results[index] = send(Client(), token, body, key=key)
    finally:
        connections.close_all()


@pytest.mark.postgres
def test_a_concurrent_duplicate_is_refused_while_the_first_runs(
    monkeypatch, verified_alice, api_token_for, alice_pays_bob
):
    """Thread A holds the key inside the service (a gate keeps it there); B arrives meanwhile."""
    from okwallet.payments import api as payments_api

    inside, release = threading.Event(), threading.Event()
    real = services.p2p_transfer_create

    def gated(**kwargs):
        inside.set()
        assert release.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(payments_api.services, "p2p_transfer_create", gated)
    token = api_token_for(verified_alice)
    results: dict[int, object] = {}
    first = threading.Thread(target=_client_call, args=(token, alice_pays_bob, "race-1", results, 0))
    first.start()
    assert inside.wait(30)
    second = threading.Thread(target=_client_call, args=(token, alice_pays_bob, "race-1", results, 1))
    second.start()
    second.join(30)
    assert results[1].status_code == 409 and results[1].json()["code"] == "idempotency_key_in_progress"
    release.set()
    first.join(30)
    assert results[0].status_code == 201
    monkeypatch.setattr(payments_api.services, "p2p_transfer_create", real)
    _client_call(token, alice_pays_bob, "race-1", results, 2)
    assert results[2].status_code == 201 and results[2].content == results[0].content
    assert sent_count(verified_alice) == 2


@pytest.mark.postgres
def test_eight_simultaneous_duplicates_move_the_money_once(verified_alice, api_token_for, alice_pays_bob):
    from okwallet.ledger.selectors import ledger_verify

    token = api_token_for(verified_alice)
    results: dict[int, object] = {}
    start = threading.Barrier(8)

    def racer(i):
        start.wait(10)
        _client_call(token, alice_pays_bob, "burst-1", results, i)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status_code for r in results.values())
    assert len(statuses) == 8 and set(statuses) <= {201, 409}, statuses
    created = {r.content for r in results.values() if r.status_code == 201}
    assert len(created) == 1  # every success is the same answer
    assert all(
        r.json()["code"] == "idempotency_key_in_progress" for r in results.values() if r.status_code == 409
    )
    assert sent_count(verified_alice) == 2
    assert wallet_summary(verified_alice)["available_fen"] == 10_000 - 100 - 1_000
    assert ledger_verify().clean
