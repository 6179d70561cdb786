"""Deposits, withdrawals and transfers between customers, through the real sandbox channel process."""

from __future__ import annotations

import pytest

from okwallet.core.errors import OkError
from okwallet.core.models import Notification
from okwallet.ledger.selectors import ledger_verify
from okwallet.payments import selectors, self_check, services
from okwallet.payments.models import Transaction

from .conftest import CMB_CARD, XIAOMING, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_card_deposit_is_credited_once_by_the_active_query(verified_alice, alice_card, sandbox):
    sandbox.control(notify="drop")  # the notification never comes: the active query must find it
    txn = services.deposit_create(
        user=verified_alice, amount_fen=20_000, method="card", card_id=alice_card.pk
    )
    assert txn.status == "pending" and txn.channel_ref
    assert selectors.wallet_summary(verified_alice)["pending_in_fen"] == 20_000
    counts = services.pending_orders_query(older_than_minutes=0)
    assert counts["settled"] == 1
    assert services.pending_orders_query(older_than_minutes=0)["checked"] == 0
    txn.refresh_from_db()
    assert txn.status == "succeeded"
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 20_000
    steps = [e.step for e in txn.events.all()]
    assert steps[:3] == ["submitted", "at_channel", "succeeded"]
    assert ledger_verify().clean


def test_alipay_deposit_waits_at_the_cashier_until_paid(verified_alice, sandbox):
    txn = services.deposit_create(user=verified_alice, amount_fen=5_000, method="alipay")
    assert txn.pay_url.startswith(sandbox.base_url + "/pay/")
    assert services.pending_orders_query(older_than_minutes=0)["settled"] == 0
    check = self_check.deposit_self_check(user=verified_alice, reference=txn.reference)
    assert not check.solved and "not_paid_at_channel" in {f["code"] for f in check.findings}
    assert check.ticket_facts["reference"] == txn.reference and check.ticket_facts["amount_fen"] == 5_000
    sandbox.control(notify="drop")
    sandbox.simulate_payment(reference=txn.reference)
    check = self_check.deposit_self_check(user=verified_alice, reference=txn.reference)
    assert check.solved and "credited_now" in {f["code"] for f in check.findings}
    again = self_check.deposit_self_check(user=verified_alice, reference=txn.reference)
    assert again.solved and "already_credited" in {f["code"] for f in again.findings}
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 5_000


def test_deposit_when_the_channel_is_down_fails_cleanly(verified_alice, settings, monkeypatch):
    monkeypatch.setenv("OKWALLET_SANDBOX_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(OkError) as exc:
        services.deposit_create(user=verified_alice, amount_fen=100, method="alipay")
    assert exc.value.code == "channel_unavailable" and exc.value.http_status == 503
    txn = Transaction.objects.get(user=verified_alice)
    assert txn.status == "failed" and txn.failure_code == "channel_unavailable"
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 0


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, "amount_must_be_positive"),
        (-1, "amount_must_be_positive"),
        (1.5, "amount_not_integer"),
        (5_000_001, "amount_over_transaction_limit"),
        (10**20, "amount_too_large"),
    ],
)
def test_bad_amounts_are_refused_before_anything_is_written(verified_alice, amount, code):
    with pytest.raises(OkError) as exc:
        services.deposit_create(user=verified_alice, amount_fen=amount, method="alipay")
    assert exc.value.code == code
    assert not Transaction.objects.exists()


def test_withdrawal_holds_then_posts_when_the_bank_pays(verified_alice, alice_card, sandbox, fund):
    fund(verified_alice, 50_000)
    sandbox.control(notify="drop", payout_delay_s=0)
    txn = services.withdrawal_create(user=verified_alice, amount_fen=30_000, card_id=alice_card.pk)
    summary = selectors.wallet_summary(verified_alice)
    assert summary["available_fen"] == 20_000 and summary["pending_out_fen"] == 30_000
    wait_for(lambda: sandbox.query_payout(reference=txn.reference).state == "paid")
    services.pending_orders_query(older_than_minutes=0)
    txn.refresh_from_db()
    assert txn.status == "succeeded"
    summary = selectors.wallet_summary(verified_alice)
    assert summary["available_fen"] == 20_000 and summary["pending_out_fen"] == 0
    assert Notification.objects.filter(
        user=verified_alice, channel="sms", kind="payments.withdrawal.succeeded"
    ).exists()
    assert ledger_verify().clean


def test_failed_withdrawal_voids_the_hold_and_the_money_is_back(verified_alice, alice_card, sandbox, fund):
    fund(verified_alice, 10_000)
    sandbox.control(notify="drop", payout_delay_s=0, fail_payouts=True, fail_code="ACCOUNT_FROZEN")
    txn = services.withdrawal_create(user=verified_alice, amount_fen=10_000, card_id=alice_card.pk)
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 0
    wait_for(lambda: sandbox.query_payout(reference=txn.reference).state == "failed")
    services.pending_orders_query(older_than_minutes=0)
    txn.refresh_from_db()
    assert (txn.status, txn.failure_code) == ("failed", "ACCOUNT_FROZEN")
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 10_000
    assert Notification.objects.filter(
        user=verified_alice, channel="inapp", kind="payments.withdrawal.failed"
    ).exists()
    assert ledger_verify().clean


def test_withdrawal_whose_payout_outcome_is_unknown_stays_held_until_the_channel_answers(
    verified_alice, alice_card, sandbox, sandbox_process, fund, monkeypatch
):
    fund(verified_alice, 10_000)
    monkeypatch.setenv("OKWALLET_SANDBOX_URL", "http://127.0.0.1:9")  # the payout request goes nowhere
    txn = services.withdrawal_create(user=verified_alice, amount_fen=6_000, card_id=alice_card.pk)
    # We cannot know whether the channel took it, so the money stays held (never paid out twice).
    txn.refresh_from_db()
    assert txn.status == "pending"
    summary = selectors.wallet_summary(verified_alice)
    assert summary["available_fen"] == 4_000 and summary["pending_out_fen"] == 6_000
    monkeypatch.setenv("OKWALLET_SANDBOX_URL", sandbox_process["url"])
    services.pending_orders_query(older_than_minutes=0)  # the channel never saw it: void the hold
    txn.refresh_from_db()
    assert txn.status == "failed"
    summary = selectors.wallet_summary(verified_alice)
    assert summary["available_fen"] == 10_000 and summary["pending_out_fen"] == 0
    assert ledger_verify().clean


def test_withdrawal_beyond_the_balance_is_insufficient_balance(verified_alice, alice_card, fund):
    fund(verified_alice, 100)
    with pytest.raises(OkError) as exc:
        services.withdrawal_create(user=verified_alice, amount_fen=101, card_id=alice_card.pk)
    assert exc.value.code == "insufficient_balance" and exc.value.http_status == 409
    assert not Transaction.objects.filter(kind="withdrawal").exists()


def test_withdrawal_beyond_the_class_limit_is_refused(verified_alice, fund, sandbox):
    from okwallet.payments.models import BankCard

    # A class I account (one verification source): ¥1,000 may leave in its lifetime.
    card = BankCard.objects.create(
        user=verified_alice,
        bank_code="CMB",
        bank_name="招商银行",
        last4="1231",
        number_hash="x",
        holder_name="王小明",
    )
    fund(verified_alice, 200_000)
    with pytest.raises(OkError) as exc:
        services.withdrawal_create(user=verified_alice, amount_fen=100_001, card_id=card.pk)
    assert exc.value.code == "account_class_limit"


def test_frozen_customer_cannot_withdraw_or_deposit(verified_alice, alice_card, fund):
    from okwallet.accounts.services import account_freeze

    fund(verified_alice, 1_000)
    account_freeze(user=verified_alice, reason="stolen phone", channel="web")
    verified_alice.refresh_from_db()
    for call in (
        lambda: services.withdrawal_create(user=verified_alice, amount_fen=100, card_id=alice_card.pk),
        lambda: services.deposit_create(user=verified_alice, amount_fen=100, method="alipay"),
    ):
        with pytest.raises(OkError) as exc:
            call()
        assert exc.value.code == "account_frozen"


@pytest.mark.parametrize("state", ["frozen", "closing", "closed"])
def test_a_frozen_or_closing_account_can_neither_bind_nor_unbind_cards(verified_alice, sandbox, state):
    from okwallet.accounts.models import SecurityEvent, User
    from okwallet.accounts.selectors import realname_for
    from okwallet.accounts.services import account_freeze
    from okwallet.payments.models import BankCard
    from okwallet.payments.services import card_bind, card_unbind

    bound = BankCard.objects.create(
        user=verified_alice,
        bank_code="ICBC",
        bank_name="工商银行",
        last4="1233",
        number_hash="x",
        holder_name="王小明",
    )
    if state == "frozen":
        account_freeze(user=verified_alice, reason="lost phone", channel="web")
    else:  # closing: the cooling-off period; closed: what is left after it
        User.objects.filter(pk=verified_alice.pk).update(status=state)
    verified_alice.refresh_from_db()
    with pytest.raises(OkError) as exc:
        card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert exc.value.code == f"account_{state}" and exc.value.http_status == 403
    with pytest.raises(OkError) as exc:
        card_unbind(user=verified_alice, card_id=bound.pk)
    assert exc.value.code == f"account_{state}" and exc.value.http_status == 403
    # Nothing changed: no new card, the bound one still bound, no verification source gained.
    assert list(BankCard.objects.filter(user=verified_alice).values_list("pk", "status")) == [
        (bound.pk, "active")
    ]
    assert realname_for(verified_alice).sources == ["identity"]
    assert not SecurityEvent.objects.filter(user=verified_alice, kind="realname_source_added").exists()


def test_a_freeze_during_the_banks_check_stops_the_binding(verified_alice, sandbox, monkeypatch):
    """The bank is asked outside the transaction; a freeze that lands meanwhile still wins."""
    from okwallet.accounts.services import account_freeze
    from okwallet.payments.channels.sandbox import SandboxChannel
    from okwallet.payments.models import BankCard
    from okwallet.payments.services import card_bind

    real_verify = SandboxChannel.verify_card

    def verify_then_freeze(self, **kwargs):
        result = real_verify(self, **kwargs)
        account_freeze(user=verified_alice, reason="this wasn't me", channel="alert")
        return result

    monkeypatch.setattr(SandboxChannel, "verify_card", verify_then_freeze)
    with pytest.raises(OkError) as exc:
        card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert exc.value.code == "account_frozen"
    assert not BankCard.objects.filter(user=verified_alice).exists()


def test_unverified_customer_cannot_send_money(alice, bob, fund):
    fund(alice, 1_000)
    with pytest.raises(OkError) as exc:
        services.p2p_transfer_create(payer=alice, payee_id=bob.pk, amount_fen=100)
    assert exc.value.code == "realname_required"


def test_transfer_shows_the_masked_payee_then_moves_money_at_once(verified_alice, verified_bob, fund):
    fund(verified_alice, 10_000)
    preview = services.payee_lookup(payer=verified_alice, phone="13800000002")
    assert preview.masked_name == "张*英" and preview.user_id == verified_bob.pk
    assert "****" in preview.masked_phone
    out = services.p2p_transfer_create(
        payer=verified_alice, payee_id=preview.user_id, amount_fen=2_500, note="午饭"
    )
    assert out.status == "succeeded" and out.kind == "transfer_out"
    incoming = Transaction.objects.get(user=verified_bob)
    assert (incoming.kind, incoming.amount_fen, incoming.counterparty) == (
        "transfer_in",
        2_500,
        verified_alice,
    )
    assert selectors.wallet_summary(verified_alice)["available_fen"] == 7_500
    assert selectors.wallet_summary(verified_bob)["available_fen"] == 2_500
    assert ledger_verify().clean


def test_transfer_to_self_unknown_or_unverified_payees_is_refused(verified_alice, bob, fund):
    fund(verified_alice, 1_000)
    for phone, code in [
        ("13800000001", "payee_is_self"),
        ("13900000000", "payee_not_found"),
        ("13800000002", "payee_not_verified"),
    ]:
        with pytest.raises(OkError) as exc:
            services.payee_lookup(payer=verified_alice, phone=phone)
        assert exc.value.code == code


def test_transfer_beyond_the_balance_moves_nothing(verified_alice, verified_bob, fund):
    fund(verified_alice, 100)
    with pytest.raises(OkError) as exc:
        services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=101)
    assert exc.value.code == "insufficient_balance"
    assert not Transaction.objects.filter(kind__in=["transfer_out", "transfer_in"]).exists()


def test_large_movements_also_send_an_sms(verified_alice, verified_bob, fund):
    fund(verified_alice, 60_000)
    assert Notification.objects.filter(
        user=verified_alice, channel="sms", kind="payments.deposit.succeeded"
    ).exists()
    services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=100)
    assert not Notification.objects.filter(user=verified_bob, channel="sms").exists()
    assert Notification.objects.filter(
        user=verified_bob, channel="inapp", kind="payments.transfer_in.succeeded"
    ).exists()


def test_card_binding_rules(verified_alice, sandbox):
    from okwallet.payments.services import card_bind, card_unbind

    cases = [
        ("6225880000001234", "王小明", "card_number_invalid"),
        ("4111111111111111", "王小明", "bank_not_supported"),
        (CMB_CARD, "李四", "card_holder_mismatch"),
    ]
    for number, holder, code in cases:
        with pytest.raises(OkError) as exc:
            card_bind(user=verified_alice, number=number, holder_name=holder, id_number=XIAOMING)
        assert exc.value.code == code
    card = card_bind(
        user=verified_alice, number="6225 8800 0000 1231", holder_name="王小明", id_number=XIAOMING
    )
    assert card.masked == "招商银行 ****1231"
    with pytest.raises(OkError) as exc:
        card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert exc.value.code == "card_already_bound"
    card_unbind(user=verified_alice, card_id=card.pk)
    sandbox.control(refuse_cards=True)
    with pytest.raises(OkError) as exc:
        card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert exc.value.code == "card_verification_failed"


def test_card_binding_needs_real_name(alice):
    from okwallet.payments.services import card_bind

    with pytest.raises(OkError) as exc:
        card_bind(user=alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert exc.value.code == "realname_required"


def test_bob_cannot_use_alices_card(verified_alice, alice_card, verified_bob, fund):
    fund(verified_bob, 1_000)
    with pytest.raises(OkError) as exc:
        services.withdrawal_create(user=verified_bob, amount_fen=100, card_id=alice_card.pk)
    assert exc.value.code == "card_not_found"
