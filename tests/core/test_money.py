import pytest
from hypothesis import given
from hypothesis import strategies as st

from okwallet.core.errors import InvalidInput
from okwallet.core.money import MAX_AMOUNT_FEN, check_amount_fen, format_fen, parse_yuan


def test_format_fen_shows_yuan_with_thousands_and_two_decimals():
    assert format_fen(123450) == "¥1,234.50"
    assert format_fen(5) == "¥0.05"
    assert format_fen(-100) == "-¥1.00"


def test_format_fen_refuses_floats():
    with pytest.raises(TypeError):
        format_fen(12.5)


@given(st.integers(min_value=-(10**13), max_value=10**13))
def test_parse_yuan_round_trips_format_fen(amount_fen):
    assert parse_yuan(format_fen(amount_fen)) == amount_fen


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1e5", "１００", "--1", "12.", ".5"])
def test_parse_yuan_rejects_malformed_amounts(text):
    with pytest.raises(InvalidInput) as err:
        parse_yuan(text)
    assert err.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, "amount_must_be_positive"),
        (-1, "amount_must_be_positive"),
        (1.5, "amount_not_integer"),
        ("100", "amount_not_integer"),
        (True, "amount_not_integer"),
        (MAX_AMOUNT_FEN + 1, "amount_too_large"),
    ],
)
def test_check_amount_fen_names_each_problem(value, code):
    with pytest.raises(InvalidInput) as err:
        check_amount_fen(value)
    assert err.value.code == code


def test_check_amount_fen_accepts_positive_integers():
    assert check_amount_fen(1) == 1
