"""Raising the payment-account class with more verification sources (carrier, social security, face).

alice verifies as 王小明 (Class I) and adds sources through the sandbox providers; bob must never
add sources for her; every refusal leaves her sources and class as they were.
"""

from __future__ import annotations

import pytest

from okwallet.accounts import selectors, services, upgrade
from okwallet.accounts.models import SecurityEvent, User
from okwallet.core.errors import OkError
from okwallet.core.models import AuditLogEntry, Notification

XIAOMING = "110101199003071233"  # 王小明
TESTUSER = "330106198801012228"  # 测试用户
ZHAOLIU = "320102199208080059"  # 赵六: no social-security record in the sandbox


@pytest.fixture
def verified_alice(alice):
    services.realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    return alice


def sources_of(user) -> list[str]:
    return list(selectors.realname_for(user).sources)


def add(user, source, id_number=XIAOMING, face_token=""):
    return upgrade.realname_source_verify(
        user=user, source=source, id_number=id_number, face_token=face_token
    )


@pytest.mark.parametrize(
    ("source", "face_token", "provider"),
    [
        ("carrier", "", "sandbox-carrier"),
        ("social_security", "", "sandbox-social-security"),
        ("face", "pass", "sandbox-face"),
    ],
)
def test_each_self_service_source_is_checked_recorded_and_audited(
    verified_alice, source, face_token, provider
):
    realname, added = add(verified_alice, source, face_token=face_token)
    assert added is True
    assert realname.sources == ["identity", source]
    event = SecurityEvent.objects.get(user=verified_alice, kind="realname_source_added")
    assert event.details["source"] == source
    assert event.details["provider"] == provider
    assert event.details["reference"].startswith("SBX-")
    assert AuditLogEntry.objects.filter(action="security.realname_source_added").count() == 1


def test_adding_a_source_twice_changes_nothing_the_second_time(verified_alice):
    add(verified_alice, "carrier")
    realname, added = add(verified_alice, "carrier")
    assert added is False
    assert realname.sources == ["identity", "carrier"]
    assert SecurityEvent.objects.filter(user=verified_alice, kind="realname_source_added").count() == 1


def test_identity_is_already_there_after_real_name_verification(verified_alice):
    _realname, added = add(verified_alice, "identity")
    assert added is False
    assert sources_of(verified_alice) == ["identity"]


def test_class_moves_from_one_to_two_to_three_and_the_limits_with_it(verified_alice):
    from okwallet.accounts.selectors import PaymentClass, payment_class_for

    assert payment_class_for(verified_alice) == PaymentClass("I", 100_000, "lifetime")
    add(verified_alice, "carrier")
    assert payment_class_for(verified_alice).code == "I"  # two sources: still Class I
    add(verified_alice, "social_security")
    assert payment_class_for(verified_alice) == PaymentClass("II", 10_000_000, "year")
    add(verified_alice, "face", face_token="pass")
    assert payment_class_for(verified_alice).code == "II"
    services.realname_add_source(user=verified_alice, source="bank_card")  # what binding a card does
    assert payment_class_for(verified_alice) == PaymentClass("III", 20_000_000, "year")
    changes = [
        (e.details["class_before"], e.details["class_after"])
        for e in SecurityEvent.objects.filter(user=verified_alice, kind="realname_source_added").order_by(
            "id"
        )
    ]
    assert changes == [("I", "I"), ("I", "II"), ("II", "II"), ("II", "III")]
    sms = Notification.objects.filter(user=verified_alice, kind="payment_class_changed", channel="sms")
    assert sms.count() == 2  # told when the class changed, not for every source


def test_a_different_id_number_is_refused_and_nothing_changes(verified_alice):
    with pytest.raises(OkError) as err:
        add(verified_alice, "carrier", id_number=TESTUSER)
    assert err.value.code == "realname_id_mismatch" and err.value.http_status == 422
    assert sources_of(verified_alice) == ["identity"]
    failed = SecurityEvent.objects.get(user=verified_alice, kind="realname_source_failed")
    assert failed.details == {"source": "carrier", "code": "id_number_mismatch"}


def test_a_malformed_id_number_gets_its_own_error(verified_alice):
    with pytest.raises(OkError) as err:
        add(verified_alice, "carrier", id_number="11010119900307")
    assert err.value.code == "id_number_format"
    assert sources_of(verified_alice) == ["identity"]


def test_carrier_refuses_a_number_registered_to_somebody_else(make_customer):
    carol = make_customer("+8613800009999")
    services.realname_verify(user=carol, name="测试用户", id_number=TESTUSER)
    with pytest.raises(OkError) as err:
        add(carol, "carrier", id_number=TESTUSER)
    assert err.value.code == "carrier_mismatch" and err.value.http_status == 422
    assert sources_of(carol) == ["identity"]
    assert SecurityEvent.objects.filter(user=carol, kind="realname_source_failed").count() == 1


def test_carrier_cannot_check_virtual_operator_numbers(make_customer):
    dave = make_customer("+8617012345678")
    services.realname_verify(user=dave, name="测试用户", id_number=TESTUSER)
    with pytest.raises(OkError) as err:
        add(dave, "carrier", id_number=TESTUSER)
    assert err.value.code == "carrier_not_supported"
    assert sources_of(dave) == ["identity"]


def test_a_provider_outage_is_a_503_to_retry_and_records_nothing(make_customer):
    erin = make_customer("+8613800009998")
    services.realname_verify(user=erin, name="测试用户", id_number=TESTUSER)
    with pytest.raises(OkError) as err:
        add(erin, "carrier", id_number=TESTUSER)
    assert err.value.code == "verification_provider_unavailable" and err.value.http_status == 503
    assert sources_of(erin) == ["identity"]
    assert not SecurityEvent.objects.filter(user=erin, kind__startswith="realname_source").exists()


def test_no_social_security_record_is_refused(make_customer):
    zhao = make_customer()
    services.realname_verify(user=zhao, name="赵六", id_number=ZHAOLIU)
    with pytest.raises(OkError) as err:
        add(zhao, "social_security", id_number=ZHAOLIU)
    assert err.value.code == "social_security_not_found"
    assert sources_of(zhao) == ["identity"]
    add(zhao, "carrier", id_number=ZHAOLIU)  # other sources still work for him
    assert sources_of(zhao) == ["identity", "carrier"]


@pytest.mark.parametrize(
    ("token", "code"),
    [("fail", "face_mismatch"), ("xyz-expired", "face_token_invalid"), ("", "face_token_required")],
)
def test_face_check_refusals_each_have_their_own_code(verified_alice, token, code):
    with pytest.raises(OkError) as err:
        add(verified_alice, "face", face_token=token)
    assert err.value.code == code and err.value.http_status == 422
    assert sources_of(verified_alice) == ["identity"]


def test_bank_card_is_added_by_binding_a_card_not_here(verified_alice):
    with pytest.raises(OkError) as err:
        add(verified_alice, "bank_card")
    assert err.value.code == "source_needs_card" and err.value.http_status == 409
    assert sources_of(verified_alice) == ["identity"]


def test_unknown_source_and_unverified_customer_are_refused(alice, verified_alice, bob):
    with pytest.raises(OkError) as err:
        add(verified_alice, "passport")
    assert err.value.code == "unknown_source" and err.value.http_status == 404
    with pytest.raises(OkError) as err:
        add(bob, "carrier")
    assert err.value.code == "realname_required"
    with pytest.raises(ValueError):
        services.realname_add_source(user=verified_alice, source="passport")


def test_a_frozen_account_cannot_add_sources(verified_alice):
    services.account_freeze(user=verified_alice, reason="lost phone", channel="web")
    with pytest.raises(OkError) as err:
        add(verified_alice, "carrier")
    assert err.value.code == "account_frozen"
    assert sources_of(verified_alice) == ["identity"]
    assert User.objects.get(pk=verified_alice.pk).status == "frozen"


def test_attempts_are_limited_per_customer(verified_alice, settings):
    settings.OKWALLET_SOURCE_CHECKS_PER_HOUR = 2
    for _i in range(2):
        with pytest.raises(OkError) as err:
            add(verified_alice, "face", face_token="fail")
        assert err.value.code == "face_mismatch"
    with pytest.raises(OkError) as err:
        add(verified_alice, "face", face_token="pass")
    assert err.value.code == "source_checks_too_many" and err.value.http_status == 429
    assert int(err.value.headers["Retry-After"]) > 0
    assert sources_of(verified_alice) == ["identity"]


def test_a_source_without_a_provider_is_switched_off(verified_alice, settings):
    settings.OKWALLET_SOURCE_PROVIDERS = {"face": None}
    assert upgrade.self_service_sources() == ["carrier", "social_security"]
    rows = {r["source"]: r for r in upgrade.sources_overview(verified_alice)}
    assert rows["face"]["how"] == "unavailable"
    with pytest.raises(OkError) as err:
        add(verified_alice, "face", face_token="pass")
    assert err.value.code == "source_not_available"


def test_overview_says_how_each_source_is_added(verified_alice):
    add(verified_alice, "carrier")
    rows = {r["source"]: r for r in upgrade.sources_overview(verified_alice)}
    assert list(rows) == ["identity", "bank_card", "carrier", "social_security", "face"]
    assert rows["identity"]["verified"] and rows["identity"]["how"] == "realname"
    assert rows["carrier"]["verified"] and rows["carrier"]["how"] == "check"
    assert rows["bank_card"]["how"] == "link" and rows["bank_card"]["url"] == "/wallet/cards/"
    assert rows["face"]["needs"] == ["id_number", "face_token"]
    assert rows["social_security"]["needs"] == ["id_number"]
    assert not rows["social_security"]["verified"]
