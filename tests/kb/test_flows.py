"""Diagnosis flows end in "solved" or a pre-filled ticket, never a dead end."""

import pytest
from django.test import Client

from okwallet.kb.models import FlowRun, Visit

pytestmark = pytest.mark.django_db


def start(client, flow):
    r = client.post(f"/help/flows/{flow}")
    assert r.status_code == 302
    return r["Location"]


def test_every_flow_has_a_start_page(client):
    for flow in ("deposit", "withdrawal", "forgot-password", "account-locked", "before-call"):
        assert client.get(f"/help/flows/{flow}").status_code == 200
    assert client.get("/help/flows/teleport").status_code == 404


def test_deposit_basics_step_tests_the_connection_and_explains_settings(client):
    url = start(client, "deposit")
    html = client.get(url).content.decode()
    assert 'data-testid="conn-test"' in html and 'data-ping="/healthz"' in html
    assert "VPN" in html or "Wi-Fi" in html


def test_anonymous_deposit_flow_opens_a_prefilled_ticket(client):
    from okwallet.helpdesk.models import Ticket

    url = start(client, "deposit")
    r = client.post(
        url, {"action": "check", "time": "2026-12-01 10:00", "amount": "200.50", "method": "wechat"}
    )
    assert r.status_code == 302
    r = client.post(url, {"action": "ticket", "description": "银行扣款了"})
    assert r.status_code == 422  # a way to answer is needed
    assert "phone" in r.content.decode()
    r = client.post(url, {"action": "ticket", "phone": "13800138000", "description": "银行扣款了"})
    assert r.status_code == 302
    run = FlowRun.objects.get()
    assert run.outcome == "ticket" and run.ticket_number
    ticket = Ticket.objects.get(number=run.ticket_number)
    assert ticket.category == "deposit"
    assert "¥200.50" in ticket.subject
    html = client.get(url + "?step=done").content.decode()
    assert run.ticket_number in html
    # a second submit does not open a second ticket
    client.post(url, {"action": "ticket", "phone": "13800138000"})
    assert Ticket.objects.count() == 1


def test_deposit_flow_with_an_amount_that_is_not_a_number_says_so(client):
    url = start(client, "deposit")
    r = client.post(url, {"action": "check", "amount": "两百"})
    assert r.status_code == 422
    assert 'data-testid="flow-error"' in r.content.decode()


def test_customer_picks_a_deposit_that_arrived_and_the_flow_is_solved(client_for, alice, make_txn):
    txn = make_txn(alice, status="succeeded")
    c = client_for(alice)
    url = start(c, "deposit")
    html = c.get(url + "?step=pick").content.decode()
    assert txn.reference in html and "¥200.00" in html
    c.post(url, {"action": "check", "reference": txn.reference})
    html = c.get(url + "?step=result").content.decode()
    assert 'data-testid="check-solved"' in html
    c.post(url, {"action": "solved"})
    run = FlowRun.objects.get()
    assert run.outcome == "solved" and run.facts["reference"] == txn.reference
    assert Visit.objects.filter(kind="flow_done", target="deposit", user=alice).exists()


def test_customer_ticket_carries_time_amount_method_and_reference(client_for, alice, make_txn):
    from okwallet.helpdesk.models import Ticket

    txn = make_txn(alice, status="failed", amount_fen=5_000, method="alipay")
    c = client_for(alice)
    url = start(c, "deposit")
    c.post(url, {"action": "check", "reference": txn.reference})
    c.post(url, {"action": "ticket", "description": ""})
    ticket = Ticket.objects.get()
    assert ticket.customer == alice
    body = ticket.messages.first().body if hasattr(ticket, "messages") else ""
    text = ticket.subject + body + str(getattr(ticket, "facts", ""))
    assert txn.reference in text and "alipay" in text and "¥50.00" in text


def test_someone_else_cannot_open_a_customers_flow(client_for, alice, bob):
    url = start(client_for(alice), "deposit")
    assert client_for(bob).get(url).status_code == 404
    assert Client().get(url).status_code == 404


def test_withdrawal_flow_explains_a_returned_withdrawal(client_for, alice, make_txn):
    txn = make_txn(alice, kind="withdrawal", status="failed")
    c = client_for(alice)
    url = start(c, "withdrawal")
    c.post(url, {"action": "check", "reference": txn.reference})
    html = c.get(url + "?step=result").content.decode()
    assert 'data-code="withdrawal_returned"' in html


def test_forgot_password_flow_leads_to_the_reset_and_can_end_in_a_ticket(client):
    url = start(client, "forgot-password")
    html = client.get(url).content.decode()
    assert 'data-testid="go-reset"' in html
    r = client.post(url, {"action": "ticket", "phone": "13800138000", "description": "原手机号停用"})
    assert r.status_code == 302
    assert FlowRun.objects.get().outcome == "ticket"


def test_account_locked_flow_explains_the_lockout(client):
    url = start(client, "account-locked")
    client.post(url, {"action": "answer", "answer": "locked"})
    html = client.get(url + "?step=result").content.decode()
    assert "15" in html
    client.post(url, {"action": "solved"})
    assert FlowRun.objects.get().outcome == "solved"


def test_before_call_checklist_shows_the_customers_own_details(client_for, alice, make_txn):
    txn = make_txn(alice)
    c = client_for(alice)
    url = start(c, "before-call")
    html = c.get(url).content.decode()
    assert alice.public_id in html and txn.reference in html
    assert "138****0001" in html and "13800000001" not in html


def test_chat_handover_ends_the_flow_and_goes_to_chat(client):
    url = start(client, "withdrawal")
    r = client.post(url, {"action": "chat"})
    assert r.status_code == 302 and r["Location"].endswith("/help/contacted/chat")
    assert FlowRun.objects.get().outcome == "chat"


def test_frozen_answer_links_to_the_accounts_unfreeze_page(client):
    url = start(client, "account-locked")
    client.post(url, {"action": "answer", "answer": "frozen"})
    html = client.get(url + "?step=result").content.decode()
    assert 'data-testid="go-unfreeze"' in html and "/accounts/security/unfreeze/" in html


def test_forgot_password_button_goes_to_the_identity_verified_reset(client):
    url = start(client, "forgot-password")
    assert 'href="/accounts/password/forgot/"' in client.get(url).content.decode()
