"""The wallet API and portal pages: shapes, errors, object-level permissions, CSV."""

from __future__ import annotations

import json

import pytest

from okwallet.payments.models import Transaction

pytestmark = pytest.mark.django_db(transaction=True)


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def pass_step_up(client, user, purpose, **auth):
    """The real security check: an SMS code to the customer's phone, typed back."""
    import re

    from okwallet.core.models import Notification

    r = client.post(
        "/api/v1/security/step-up/sms",
        data=json.dumps({"purpose": purpose}),
        content_type="application/json",
        **auth,
    )
    assert r.status_code == 202, r.content
    body = Notification.objects.filter(to_address=user.phone).order_by("-id").first().body
    code = re.search(r"(?<!\d)(\d{6})(?!\d)", body).group(1)
    r = client.post(
        "/api/v1/security/step-up",
        data=json.dumps({"purpose": purpose, "method": "sms", "code": code}),
        content_type="application/json",
        **auth,
    )
    assert r.status_code == 201, r.content


def test_api_wallet_balance_and_paginated_records(client, verified_alice, api_token_for, fund):
    for i in range(23):
        fund(verified_alice, 100 + i)
    token = api_token_for(verified_alice)
    r = client.get("/api/v1/wallet", **bearer(token))
    assert r.status_code == 200 and r.json()["available_fen"] == sum(100 + i for i in range(23))
    page1 = client.get("/api/v1/wallet/transactions", **bearer(token)).json()
    assert (page1["count"], page1["pages"], len(page1["items"])) == (23, 2, 20)
    page2 = client.get(
        "/api/v1/wallet/transactions?page=2&kind=deposit&status=succeeded", **bearer(token)
    ).json()
    assert len(page2["items"]) == 3
    assert client.get("/api/v1/wallet/transactions?kind=withdrawal", **bearer(token)).json()["count"] == 0
    ref = page1["items"][0]["reference"]
    detail = client.get(f"/api/v1/wallet/transactions/{ref}", **bearer(token)).json()
    assert [e["step"] for e in detail["events"]] == ["succeeded"]


def test_api_hides_alices_transaction_from_bob(client, verified_alice, bob, api_token_for, fund):
    txn = fund(verified_alice, 100)
    r = client.get(f"/api/v1/wallet/transactions/{txn.reference}", **bearer(api_token_for(bob)))
    assert r.status_code == 404 and set(r.json()) == {"code", "message", "details"}


def test_api_errors_have_codes_and_the_right_status(client, verified_alice, api_token_for, fund):
    token = api_token_for(verified_alice)
    r = client.post(
        "/api/v1/wallet/deposits",
        data=json.dumps({"amount_fen": 0, "method": "alipay"}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 422 and "amount_fen" in json.dumps(r.json()["details"])
    r = client.post(
        "/api/v1/wallet/withdrawals",
        data=json.dumps({"amount_fen": 100, "card_id": 999}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 403 and r.json()["code"] == "step_up_required"
    pass_step_up(client, verified_alice, "withdrawal", **bearer(token))
    r = client.post(
        "/api/v1/wallet/withdrawals",
        data=json.dumps({"amount_fen": 100, "card_id": 999}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 404 and r.json()["code"] == "card_not_found"
    r = client.post(
        "/api/v1/wallet/payees/lookup",
        data=json.dumps({"phone": "13900000000"}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 404 and r.json()["code"] == "payee_not_found"


def test_api_transfer_flow_with_payee_confirmation(client, verified_alice, verified_bob, api_token_for, fund):
    fund(verified_alice, 1_000)
    token = api_token_for(verified_alice)
    preview = client.post(
        "/api/v1/wallet/payees/lookup",
        data=json.dumps({"phone": "+8613800000002"}),
        content_type="application/json",
        **bearer(token),
    ).json()
    assert preview["masked_name"] == "张*英"
    r = client.post(
        "/api/v1/wallet/transfers",
        data=json.dumps({"payee_id": preview["payee_id"], "amount_fen": 300}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 403 and r.json()["code"] == "step_up_required"  # a new payee
    pass_step_up(client, verified_alice, "new_payee", **bearer(token))
    r = client.post(
        "/api/v1/wallet/transfers",
        data=json.dumps({"payee_id": preview["payee_id"], "amount_fen": 300}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 201 and r.json()["status"] == "succeeded"
    r = client.post(
        "/api/v1/wallet/transfers",
        data=json.dumps({"payee_id": preview["payee_id"], "amount_fen": 10_000}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 409 and r.json()["code"] == "insufficient_balance"


def test_staff_have_no_wallet_api(client, agent, api_token_for):
    assert client.get("/api/v1/wallet", **bearer(api_token_for(agent))).status_code == 403


def test_wallet_pages_render_for_the_customer(client_for, verified_alice, fund):
    txn = fund(verified_alice, 4_200)
    c = client_for(verified_alice)
    for url in [
        "/wallet/",
        "/wallet/records/",
        "/wallet/deposit/",
        "/wallet/withdraw/",
        "/wallet/transfer/",
        "/wallet/cards/",
        "/wallet/deposit-check/",
        f"/wallet/records/{txn.reference}/",
        "/wallet/records/?kind=deposit&status=succeeded&from=2020-01-01&to=2099-01-01&q=T",
        "/wallet/records/?from=notadate&kind=bogus",
    ]:
        r = c.get(url)
        assert r.status_code == 200, url
    assert "¥42.00" in c.get("/wallet/").content.decode()
    home = c.get("/").content.decode()
    assert "¥42.00" in home  # the wallet card on the portal home (portal_home_panels hook)


def test_records_page_hides_other_customers_records(client_for, verified_alice, bob, fund):
    txn = fund(verified_alice, 100)
    r = client_for(bob).get(f"/wallet/records/{txn.reference}/")
    assert r.status_code == 404


def test_csv_export_has_the_filtered_rows(client_for, verified_alice, fund):
    fund(verified_alice, 1_234)
    Transaction.objects.create(
        reference="TX-FAILED-1",
        user=verified_alice,
        kind="deposit",
        amount_fen=99,
        method="alipay",
        status="failed",
    )
    r = client_for(verified_alice).get("/wallet/records.csv?status=succeeded")
    body = b"".join(r.streaming_content).decode()
    assert r["Content-Type"].startswith("text/csv")
    lines = body.strip().splitlines()
    assert len(lines) == 2 and "12.34" in lines[1] and "TX-FAILED-1" not in body


def test_pages_need_login(client, db):
    r = client.get("/wallet/records/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_deposit_form_shows_a_friendly_error_for_a_bad_amount(client_for, verified_alice):
    r = client_for(verified_alice).post(
        "/wallet/deposit/", {"amount": "abc", "method": "alipay"}, follow=True
    )
    assert r.status_code == 200
    assert Transaction.objects.count() == 0
    assert "100.50" in r.content.decode()  # "Enter an amount such as 100 or 100.50."


def test_transfer_pages_confirm_the_masked_name_before_sending(
    client_for, verified_alice, verified_bob, fund
):
    fund(verified_alice, 1_000)
    c = client_for(verified_alice)
    r = c.post("/wallet/transfer/", {"step": "lookup", "phone": "13800000002", "amount": "3.50"})
    assert "张*英" in r.content.decode()
    assert not Transaction.objects.filter(kind="transfer_out").exists()
    r = c.post("/wallet/transfer/", {"step": "confirm", "amount": "3.50"})
    assert r.status_code == 302 and "/accounts/security/verify/" in r["Location"]  # first payment to bob
    assert not Transaction.objects.filter(kind="transfer_out").exists()
    pass_step_up(c, verified_alice, "new_payee")
    r = c.post("/wallet/transfer/", {"step": "confirm", "amount": "3.50"})
    assert r.status_code == 302
    assert Transaction.objects.get(kind="transfer_out").amount_fen == 350
    r = c.post("/wallet/transfer/", {"step": "confirm", "amount": "3.50"}, follow=True)  # replayed confirm
    assert Transaction.objects.filter(kind="transfer_out").count() == 1


def test_api_refuses_binding_and_unbinding_cards_on_a_frozen_account(
    client, verified_alice, alice_card, api_token_for
):
    from okwallet.accounts.services import account_freeze
    from okwallet.payments.models import BankCard

    from .conftest import CMB_CARD, XIAOMING

    account_freeze(user=verified_alice, reason="lost phone", channel="app")
    token = api_token_for(verified_alice)  # freezing signed the apps out; the customer logs in again
    r = client.post(
        "/api/v1/wallet/cards",
        data=json.dumps({"number": CMB_CARD, "holder_name": "王小明", "id_number": XIAOMING}),
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 403 and r.json()["code"] == "account_frozen"
    assert set(r.json()) == {"code", "message", "details"}
    r = client.delete(f"/api/v1/wallet/cards/{alice_card.pk}", **bearer(token))
    assert r.status_code == 403 and r.json()["code"] == "account_frozen"
    assert BankCard.objects.get(pk=alice_card.pk).status == "active"
    # Seeing the cards is still fine.
    assert [c["id"] for c in client.get("/api/v1/wallet/cards", **bearer(token)).json()] == [alice_card.pk]


def test_cards_page_of_a_frozen_account_explains_and_offers_no_changes(
    client_for, verified_alice, alice_card
):
    from okwallet.accounts.services import account_freeze
    from okwallet.payments.models import BankCard

    from .conftest import CMB_CARD, XIAOMING

    account_freeze(user=verified_alice, reason="lost phone", channel="web")
    c = client_for(verified_alice)
    page = c.get("/wallet/cards/").content.decode()
    assert 'data-testid="cards-blocked"' in page and 'href="/accounts/security/unfreeze/"' in page
    assert 'name="unbind"' not in page and 'aria-labelledby="bind"' not in page
    assert "招商银行 ****1231" in page and "如需绑定或解绑银行卡" in page  # zh-Hans first
    # A form posted anyway (an old tab) is refused with the reason, and nothing changes.
    en = {"follow": True, "HTTP_ACCEPT_LANGUAGE": "en"}
    r = c.post("/wallet/cards/", {"number": CMB_CARD, "holder_name": "王小明", "id_number": XIAOMING}, **en)
    assert "Unfreeze it in Security" in r.content.decode()
    r = c.post("/wallet/cards/", {"unbind": str(alice_card.pk)}, **en)
    assert "Unfreeze it in Security" in r.content.decode()
    assert BankCard.objects.get(pk=alice_card.pk).status == "active"
    assert BankCard.objects.filter(user=verified_alice).count() == 1


def test_cards_page_during_the_closure_points_to_cancelling_it(client_for, verified_alice, alice_card):
    from okwallet.accounts.models import User

    User.objects.filter(pk=verified_alice.pk).update(status="closing")
    page = client_for(verified_alice).get("/wallet/cards/").content.decode()
    assert 'data-testid="cards-blocked"' in page and 'href="/accounts/closure/"' in page
    assert 'aria-labelledby="bind"' not in page
