"""Binding a card is the bank's four-element check (四要素): card number, holder name, ID number
and the mobile number the bank holds for the card, each refusal with its own code. Through the
real sandbox channel process and its documented test cards."""

from __future__ import annotations

import json
from datetime import date

import pytest

from okwallet.accounts import selectors as account_selectors
from okwallet.accounts.idcard import make_id_number
from okwallet.accounts.models import SecurityEvent
from okwallet.core.errors import OkError
from okwallet.payments import services
from okwallet.payments.models import BankCard

from .conftest import CMB_CARD, XIAOMING, XIUYING

pytestmark = pytest.mark.django_db(transaction=True)

CCB_TEST_CARD = "6217000000001111"  # the sandbox bank: 王小明, 110101199003071233, reserved 13800138001
LOST_CARD = "6228480000002227"  # the same holder's card, reported lost
RESERVED = "138 0013 8001"


def bind(user, number=CCB_TEST_CARD, holder="王小明", id_number=XIAOMING, phone=RESERVED):
    return services.card_bind(
        user=user, number=number, holder_name=holder, id_number=id_number, reserved_phone=phone
    )


def refusal(call) -> OkError:
    with pytest.raises(OkError) as exc:
        call()
    assert exc.value.http_status == 422
    return exc.value


def test_a_card_binds_with_all_four_elements_and_adds_the_bank_card_source(verified_alice, sandbox):
    # Alice's OK Wallet number (+8613800000001) is not the one her bank holds: she types that one.
    card = bind(verified_alice)
    assert card.masked == "建设银行 ****1111" and card.status == "active"
    assert account_selectors.realname_for(verified_alice).sources == ["identity", "bank_card"]


def test_the_account_number_is_offered_and_the_bank_refuses_a_number_it_does_not_hold(
    verified_alice, sandbox
):
    err = refusal(lambda: bind(verified_alice, phone=""))  # empty: the account's own number
    assert err.code == "card_phone_mismatch" and err.details["channel_code"] == "PHONE_MISMATCH"
    err = refusal(lambda: bind(verified_alice, phone="13900001111"))
    assert err.code == "card_phone_mismatch"
    assert not BankCard.objects.filter(user=verified_alice).exists()
    assert account_selectors.realname_for(verified_alice).sources == ["identity"]
    events = SecurityEvent.objects.filter(user=verified_alice, kind="card_bind_failed")
    assert [e.details["code"] for e in events] == ["card_phone_mismatch"] * 2
    assert events[0].details["card"] == "建设银行 ****1111"  # masked, never the number


def test_a_namesake_with_another_id_number_gets_card_id_mismatch(make_customer, sandbox):
    from okwallet.accounts.services import realname_verify

    other_id = make_id_number("110101", date(1985, 6, 1), 12)
    namesake = make_customer("+8613800000009")
    realname_verify(user=namesake, name="王小明", id_number=other_id)
    err = refusal(lambda: bind(namesake, id_number=other_id))
    assert err.code == "card_id_mismatch" and err.details["channel_code"] == "ID_NUMBER_MISMATCH"
    assert not BankCard.objects.filter(user=namesake).exists()


def test_someone_elses_card_is_refused_by_the_bank_as_card_holder_mismatch(verified_bob, sandbox):
    # Bob (张秀英) types his own verified name and ID: our checks pass, the bank's record does not.
    err = refusal(lambda: bind(verified_bob, holder="张秀英", id_number=XIUYING))
    assert err.code == "card_holder_mismatch" and err.details["channel_code"] == "HOLDER_NAME_MISMATCH"


def test_a_card_reported_lost_is_card_inactive(verified_alice, sandbox):
    err = refusal(lambda: bind(verified_alice, number=LOST_CARD))
    assert err.code == "card_inactive" and err.details["channel_code"] == "CARD_STATUS_ABNORMAL"


def test_the_id_number_must_be_the_verified_one_before_the_bank_is_asked(verified_alice, sandbox):
    other_id = make_id_number("110101", date(1985, 6, 1), 12)
    assert refusal(lambda: bind(verified_alice, id_number=other_id)).code == "realname_id_mismatch"
    assert refusal(lambda: bind(verified_alice, id_number="110101199003071234")).code == "id_number_checksum"
    assert refusal(lambda: bind(verified_alice, id_number="")).code == "id_number_format"
    assert refusal(lambda: bind(verified_alice, phone="12345")).code == "invalid_phone"
    assert [e.details["code"] for e in SecurityEvent.objects.filter(kind="card_bind_failed")] == [
        "realname_id_mismatch"
    ]
    assert not BankCard.objects.filter(user=verified_alice).exists()


def test_an_id_number_ending_in_x_may_be_typed_in_lower_case(make_customer, sandbox):
    from okwallet.accounts.services import realname_verify

    lihua = make_customer("+8613800000008")
    realname_verify(user=lihua, name="李华", id_number="44030519951120789X")
    card = services.card_bind(user=lihua, number=CMB_CARD, holder_name="李华", id_number="44030519951120789x")
    assert card.status == "active"


@pytest.mark.parametrize(
    ("lang", "text"),
    [("en", "not the mobile number the bank holds"), ("zh-hans", "银行预留手机号")],
)
def test_api_answers_each_element_with_its_code_in_both_languages(
    client, verified_alice, api_token_for, sandbox, lang, text
):
    r = client.post(
        "/api/v1/wallet/cards",
        data=json.dumps({"number": CCB_TEST_CARD, "holder_name": "王小明", "id_number": XIAOMING}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token_for(verified_alice)}",
        HTTP_ACCEPT_LANGUAGE=lang,
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "card_phone_mismatch" and text in body["message"]
    assert body["details"] == {"channel_code": "PHONE_MISMATCH"}


def test_api_binds_with_the_reserved_phone_and_needs_the_id_number(
    client, verified_alice, api_token_for, sandbox
):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_token_for(verified_alice)}"}
    payload = {"number": CCB_TEST_CARD, "holder_name": "王小明"}
    r = client.post("/api/v1/wallet/cards", data=json.dumps(payload), content_type="application/json", **auth)
    assert r.status_code == 422  # id_number is required
    payload |= {"id_number": XIAOMING, "reserved_phone": "+86 138 0013 8001"}
    r = client.post("/api/v1/wallet/cards", data=json.dumps(payload), content_type="application/json", **auth)
    assert r.status_code == 201 and r.json()["masked"] == "建设银行 ****1111"


def test_cards_page_asks_for_the_id_number_and_the_bank_reserved_phone(client_for, verified_alice, sandbox):
    c = client_for(verified_alice)
    page = c.get("/wallet/cards/").content.decode()
    assert 'name="id_number"' in page and 'autocomplete="off"' in page
    assert 'name="reserved_phone"' in page and 'value="13800000001"' in page  # her number, editable
    form = {"number": CCB_TEST_CARD, "holder_name": "王小明", "id_number": XIAOMING}
    r = c.post("/wallet/cards/", form | {"reserved_phone": "13800000001"}, follow=True)
    assert "银行预留手机号" in r.content.decode()
    assert not BankCard.objects.filter(user=verified_alice).exists()
    r = c.post("/wallet/cards/", form | {"reserved_phone": "13800138001"}, follow=True)
    assert "建设银行 ****1111" in r.content.decode()
    assert BankCard.objects.filter(user=verified_alice, status="active").count() == 1


def test_the_security_history_shows_a_refused_binding(client_for, verified_alice, sandbox):
    refusal(lambda: bind(verified_alice, phone="13900001111"))
    page = client_for(verified_alice).get("/accounts/security/history/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Bank card not bound (check failed): 建设银行 ****1111" in page.content.decode()
