from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okwallet.accounts import selectors, services
from okwallet.accounts.idcard import age_on, check_char, make_id_number, parse_id_number
from okwallet.accounts.models import User
from okwallet.core.errors import InvalidInput, OkError

XIAOMING = "110101199003071233"
XIUYING = "310104195806154567"


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    seq=st.integers(0, 999),
    region=st.sampled_from(["110101", "310104", "440305", "650102"]),
)
def test_generated_id_numbers_parse_back_to_their_birth_date(birth, seq, region):
    number = make_id_number(region, birth, seq)
    parsed = parse_id_number(number, today=date(2026, 12, 1))
    assert parsed.birth_date == birth
    assert parsed.gender == ("m" if seq % 2 else "f")


@given(birth=st.dates(min_value=date(1950, 1, 1), max_value=date(2020, 1, 1)), seq=st.integers(0, 999))
def test_any_single_digit_change_breaks_the_checksum_or_the_date(birth, seq):
    number = make_id_number("110101", birth, seq)
    for pos in (14, 15, 16):
        digit = (int(number[pos]) + 1) % 10
        changed = number[:pos] + str(digit) + number[pos + 1 :]
        with pytest.raises(InvalidInput) as err:
            parse_id_number(changed)
        assert err.value.code == "id_number_checksum"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010119900307123", "id_number_format"),
        ("1101011990030712334", "id_number_format"),
        ("99010119900307123X", "id_number_region"),
        ("110101199002301234", "id_number_birth_date"),
        ("110101203001011234", "id_number_birth_date"),
        ("110101199003071234", "id_number_checksum"),
    ],
)
def test_bad_id_numbers_each_get_their_own_error(number, code):
    with pytest.raises(InvalidInput) as err:
        parse_id_number(number, today=date(2026, 12, 1))
    assert err.value.code == code


def test_lowercase_x_is_accepted_as_check_character():
    first17 = "11010519491231002"
    assert check_char(first17) == "X"
    assert parse_id_number(first17 + "x").number.endswith("X")


def test_age_counts_birthdays_not_years():
    assert age_on(date(1966, 12, 2), date(2026, 12, 1)) == 59
    assert age_on(date(1966, 12, 1), date(2026, 12, 1)) == 60


def test_unverified_customer_has_no_payment_class_and_cannot_send(alice):
    assert selectors.realname_for(alice) is None
    assert selectors.customer_age(alice) is None
    assert selectors.payment_class_for(alice) == selectors.PaymentClass(None, 0, "lifetime")
    services.customer_assert_can_move_money(user=alice, outgoing=False)
    with pytest.raises(OkError) as err:
        services.customer_assert_can_move_money(user=alice, outgoing=True)
    assert err.value.code == "realname_required"


def test_verified_customer_is_class_one_with_masked_name_and_age(alice):
    services.realname_verify(user=alice, name="张秀英", id_number=XIUYING)
    realname = selectors.realname_for(alice)
    assert realname.masked_name == "张*英"
    assert realname.id_last4 == "4567"
    assert realname.birth_date == date(1958, 6, 15)
    assert selectors.customer_age(alice, today=date(2026, 12, 1)) == 68
    assert selectors.payment_class_for(alice) == selectors.PaymentClass("I", 100_000, "lifetime")
    services.customer_assert_can_move_money(user=alice, outgoing=True)


def test_more_verification_sources_raise_the_payment_class(alice):
    services.realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    for source in ("bank_card", "carrier"):
        services.realname_add_source(user=alice, source=source)
    assert selectors.payment_class_for(alice).code == "II"
    for source in ("social_security", "face"):
        services.realname_add_source(user=alice, source=source)
    assert selectors.payment_class_for(alice) == selectors.PaymentClass("III", 20_000_000, "year")


def test_name_mismatch_is_refused_and_nothing_is_stored(alice):
    with pytest.raises(InvalidInput) as err:
        services.realname_verify(user=alice, name="李四", id_number=XIAOMING)
    assert err.value.code == "realname_mismatch"
    assert selectors.realname_for(alice) is None


def test_a_refused_verification_stays_in_the_security_history(alice):
    from okwallet.accounts.models import SecurityEvent
    from okwallet.core.models import AuditLogEntry

    with pytest.raises(InvalidInput):
        services.realname_verify(user=alice, name="李四", id_number=XIAOMING)
    assert SecurityEvent.objects.get(user=alice, kind="realname_failed").details == {"code": "name_mismatch"}
    assert AuditLogEntry.objects.filter(action="security.realname_failed").count() == 1


def test_one_identity_cannot_verify_two_accounts(alice, bob):
    services.realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    with pytest.raises(OkError) as err:
        services.realname_verify(user=bob, name="王小明", id_number=XIAOMING)
    assert err.value.code == "realname_in_use"


def test_provider_outage_is_a_503_to_retry(alice):
    with pytest.raises(OkError) as err:
        services.realname_verify(user=alice, name="某人", id_number="110105200002294444")
    assert err.value.http_status == 503


def test_freeze_is_idempotent_audited_notifies_and_blocks_money(alice, agent):
    from okwallet.accounts.models import SecurityEvent
    from okwallet.core.models import AuditLogEntry, Notification

    services.account_freeze(user=alice, actor=agent, reason="caller reports stolen phone", channel="agent")
    services.account_freeze(user=alice, actor=agent, reason="again", channel="agent")
    alice.refresh_from_db()
    assert alice.status == User.Status.FROZEN
    assert alice.freeze_reason == "caller reports stolen phone"
    assert SecurityEvent.objects.filter(user=alice, kind="account_frozen").count() == 1
    assert AuditLogEntry.objects.filter(action="security.account_frozen", actor=agent).count() == 1
    assert Notification.objects.filter(user=alice, kind="account_frozen", channel="sms").count() == 1
    with pytest.raises(OkError) as err:
        services.customer_assert_can_move_money(user=alice, outgoing=False)
    assert err.value.code == "account_frozen"


def test_agent_freeze_needs_a_reason(alice, agent):
    with pytest.raises(InvalidInput):
        services.account_freeze(user=alice, actor=agent, reason="  ", channel="agent")


def test_closing_and_closed_accounts_cannot_move_money(alice):
    for status, code in [(User.Status.CLOSING, "account_closing"), (User.Status.CLOSED, "account_closed")]:
        User.objects.filter(pk=alice.pk).update(status=status)
        with pytest.raises(OkError) as err:
            services.customer_assert_can_move_money(user=alice, outgoing=False)
        assert err.value.code == code


@pytest.mark.parametrize("form", ["13800000001", "+8613800000001", "138 0000 0001", "008613800000001"])
def test_customer_by_phone_accepts_common_forms(alice, form):
    assert selectors.customer_by_phone(form) == alice


def test_customer_by_phone_ignores_garbage_and_staff(alice, agent):
    assert selectors.customer_by_phone("12345") is None
    assert selectors.customer_by_phone("") is None


def test_real_name_tries_are_limited_on_the_page_as_on_the_api(alice, client_for):
    c = client_for(alice)
    for _i in range(5):
        r = c.post("/accounts/realname/", {"name": "李四", "id_number": XIAOMING})
        assert r.status_code == 422
    r = c.post("/accounts/realname/", {"name": "王小明", "id_number": XIAOMING})
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert selectors.realname_for(alice) is None
