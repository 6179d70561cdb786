"""Payments and the payment-account class: a verified card is a verification source, and the
class limit that transfers check moves as soon as the class does."""

from __future__ import annotations

import pytest

from okwallet.accounts import selectors as account_selectors
from okwallet.accounts.models import SecurityEvent
from okwallet.core.errors import OkError
from okwallet.payments import cards as cardlib
from okwallet.payments import services
from okwallet.payments.models import BankCard

from .conftest import CMB_CARD, XIAOMING

pytestmark = pytest.mark.django_db(transaction=True)

ICBC_CARD = cardlib.luhn_complete("622202000000123")


def test_binding_a_verified_card_adds_the_bank_card_source_once(verified_alice, sandbox):
    services.card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert account_selectors.realname_for(verified_alice).sources == ["identity", "bank_card"]
    services.card_bind(user=verified_alice, number=ICBC_CARD, holder_name="王小明", id_number=XIAOMING)
    assert account_selectors.realname_for(verified_alice).sources == ["identity", "bank_card"]
    events = SecurityEvent.objects.filter(user=verified_alice, kind="realname_source_added")
    assert events.count() == 1
    assert events.get().details["card"] == "招商银行 ****1231"


def test_a_card_the_bank_refuses_adds_no_source(verified_alice, sandbox):
    sandbox.control(refuse_cards=True)
    with pytest.raises(OkError) as err:
        services.card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert err.value.code == "card_verification_failed"
    assert account_selectors.realname_for(verified_alice).sources == ["identity"]
    assert not BankCard.objects.filter(user=verified_alice).exists()


def test_card_and_source_are_one_transaction(verified_alice, sandbox, monkeypatch):
    """If recording the source fails, the card is not bound either (and no message says it is)."""
    from okwallet.accounts import services as account_services
    from okwallet.core.models import Notification

    def broken(**kwargs):
        raise RuntimeError("accounts database hiccup")

    monkeypatch.setattr(account_services, "realname_add_source", broken)
    with pytest.raises(RuntimeError):
        services.card_bind(user=verified_alice, number=CMB_CARD, holder_name="王小明", id_number=XIAOMING)
    assert not BankCard.objects.filter(user=verified_alice).exists()
    assert not Notification.objects.filter(user=verified_alice, kind="payments.card_bound").exists()


def test_adding_sources_raises_the_limit_transfers_check_at_once(verified_alice, verified_bob, fund):
    from okwallet.accounts.upgrade import realname_source_verify

    fund(verified_alice, 300_000)  # ¥3,000; Class I may send ¥1,000 in its lifetime
    with pytest.raises(OkError) as err:
        services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=150_000)
    assert err.value.code == "account_class_limit"
    realname_source_verify(user=verified_alice, source="carrier", id_number=XIAOMING)
    realname_source_verify(user=verified_alice, source="social_security", id_number=XIAOMING)
    assert account_selectors.payment_class_for(verified_alice).code == "II"
    txn = services.p2p_transfer_create(payer=verified_alice, payee_id=verified_bob.pk, amount_fen=150_000)
    assert txn.status == "succeeded"
