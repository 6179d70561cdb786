"""The agent console's one search box finds the same customers by every form it accepts, and the
forms the benchmark (bench/customer360.py) found slow or broken at scale stay indexed and correct."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from okwallet.helpdesk.selectors import customer_search
from okwallet.payments.models import Transaction


def _deposit(user, reference: str, channel_ref: str = "") -> Transaction:
    return Transaction.objects.create(
        reference=reference,
        user=user,
        kind="deposit",
        amount_fen=10_000,
        method="card",
        channel="sandbox",
        channel_ref=channel_ref,
    )


def test_every_phone_form_finds_the_customer(alice, bob):
    for q in ("13800000001", "+8613800000001", "+86 138 0000 0001", "138-0000-0001", "8613800000001"):
        assert customer_search(q) == [alice], q
    assert customer_search("13800000009") == []


def test_a_transaction_reference_finds_its_owner_though_it_ends_in_four_digits(
    alice, bob, django_assert_num_queries
):
    # Our references (T + yymmddHHMMSS + 6 digits) and the channel's (42 + date + digits) end in
    # four digits, which the search also reads as "name + last 4 of the phone"; that reading
    # matches nobody, so the reference lookup must still run.
    _deposit(alice, "T261201093015000123", "42202612010000000123")
    _deposit(bob, "T261201093016004567")
    with django_assert_num_queries(1):  # one indexed lookup, not a "last 4 + name" probe first
        assert customer_search("T261201093015000123") == [alice]
    assert customer_search("42202612010000000123") == [alice]
    assert customer_search(" T261201093016004567 ") == [bob]
    assert customer_search("T261201093017009999") == []


def test_last4_and_name_find_the_customer_in_either_order_and_by_surname(make_customer):
    wang_wei = make_customer("+8613912348001", name="王伟")
    wang_fang = make_customer("+8613912358001", name="王芳")  # same last 4, same surname
    make_customer("+8613912368001", name="李娜")
    make_customer("+8613912368002", name="王伟")  # same name, other last 4
    assert customer_search("8001 王伟") == [wang_wei]
    assert customer_search("王伟8001") == [wang_wei]
    assert customer_search("王伟 8001") == [wang_wei]
    assert {u.pk for u in customer_search("8001 王")} == {wang_wei.pk, wang_fang.pk}
    assert customer_search("8001 赵") == []


def test_a_nickname_with_digits_is_still_found_by_last4_and_nickname(make_customer):
    ming = make_customer("+8613912348002", name="小明2000")
    assert customer_search("8002 小明2000") == [ming]
    assert customer_search("小明2000 8002") == [ming]


def test_email_is_found_whatever_its_case(alice, bob):
    assert customer_search("alice@example.com") == [alice]
    assert customer_search("Alice@Example.COM") == [alice]
    assert customer_search("nobody@example.com") == []


@pytest.mark.postgres
def test_email_search_is_an_index_lookup_on_postgresql(alice):
    """email__iexact is UPPER(email) = UPPER(%s): it must match accounts' user_email_upper_idx
    (without it the lookup scanned all 1,000,000 customers in the benchmark)."""
    with CaptureQueriesContext(connection) as ctx:
        assert customer_search("Alice@Example.COM") == [alice]
    (sql,) = [q["sql"] for q in ctx.captured_queries if "accounts_user" in q["sql"]]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
        cur.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "user_email_upper_idx" in plan, plan


def test_last4_and_the_verified_real_name_find_a_customer_with_a_nickname(make_customer):
    # A caller gives their legal name, not the nickname they chose in the app.
    from okwallet.accounts.models import RealName

    xin = make_customer("+8613912348003", name="小新")
    make_customer("+8613912358003", name="王小明")  # same last 4, display name starts alike
    RealName.objects.create(
        user=xin,
        name="王小新",
        id_hash="h" * 64,
        id_last6="12345X",
        birth_date="1990-01-01",
        provider="sandbox",
        verified_at=timezone.now(),
    )
    assert customer_search("8003 王小新") == [xin]
    assert customer_search("王小新 8003") == [xin]
    assert customer_search("8003 小新") == [xin]  # the nickname still works
    assert len(customer_search("8003 王")) == 2
    RealName.objects.filter(user=xin).delete()  # the key forgets the real name with it
    assert customer_search("8003 王小新") == []
