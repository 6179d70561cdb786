"""The sandbox bank's four-element rule on its own (no process, no database): its documented test
cards answer the first element that differs; any other card is held as sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okwallet.payments.sandbox_server import TEST_CARDS, card_verify

from .conftest import XIUYING
from .test_card_four_elements import CCB_TEST_CARD, LOST_CARD

RECORD = TEST_CARDS[CCB_TEST_CARD]


def test_sandbox_bank_reports_the_first_element_that_differs():
    right = {"card_number": CCB_TEST_CARD, **{k: RECORD[k] for k in ("holder_name", "id_number", "mobile")}}
    assert card_verify(right) == (True, "OK")
    assert card_verify(right | {"holder_name": "李华"}) == (False, "HOLDER_NAME_MISMATCH")
    assert card_verify(right | {"id_number": XIUYING}) == (False, "ID_NUMBER_MISMATCH")
    assert card_verify(right | {"mobile": "13800000001"}) == (False, "PHONE_MISMATCH")
    assert card_verify(right | {"holder_name": "李华", "mobile": "1"}) == (False, "HOLDER_NAME_MISMATCH")
    assert card_verify(right | {"card_number": LOST_CARD}) == (False, "CARD_STATUS_ABNORMAL")
    assert card_verify(right, refuse=True) == (False, "VERIFY_REFUSED")
    with pytest.raises(ValueError):
        card_verify(right | {"mobile": ""})


DIGITS = "0123456789"


@given(
    number=st.text(DIGITS, min_size=14, max_size=17).map("62".__add__).filter(lambda n: n not in TEST_CARDS),
    name=st.text(min_size=1, max_size=10).filter(str.strip),
    id_number=st.tuples(st.text(DIGITS, min_size=17, max_size=17), st.sampled_from(DIGITS + "X")).map(
        "".join
    ),
    mobile=st.tuples(st.sampled_from("3456789"), st.text(DIGITS, min_size=9, max_size=9)).map(
        lambda t: "1" + "".join(t)
    ),
)
def test_sandbox_bank_holds_any_other_card_as_sent(number, name, id_number, mobile):
    data = {"card_number": number, "holder_name": name, "id_number": id_number, "mobile": mobile}
    assert card_verify(data) == (True, "OK")
