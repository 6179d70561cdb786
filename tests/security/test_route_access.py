"""Authorization matrix generated from the URL configuration and the API schema.

Every route is listed once below with who may use it. The test walks every route as anonymous,
a customer (alice), an agent and a supervisor and checks the outcome the class promises; a new
route without an entry fails `test_every_route_has_an_access_entry`, so nobody adds a page or an
endpoint without deciding who may reach it. Object-level rules (bob never sees alice's ticket)
are tested in each app with real objects; this matrix proves the coarse gate on every route.

Classes:
  public      anyone; never refused for lack of a login
  customer    a signed-in customer; anonymous visitors are sent to log in (pages) or get 401 (API)
  signed_in   any signed-in user (customers see their own, staff see theirs)
  staff       agents, senior managers, supervisors; customers and anonymous are refused
  supervisor  supervisors (and admins); agents are refused
  signed      machine-to-machine (webhooks, metrics): refused without a valid signature/token
  token       a link carrying a one-time token: a wrong token is refused or explained, never served
"""

from __future__ import annotations

import pytest

from tests.security.routes import api_routes, page_routes

PAGES = {
    "accounts:closure": "customer",
    "accounts:console_security": "staff",
    "accounts:contact_change": "customer",
    "accounts:email_verify": "customer",
    "accounts:freeze": "customer",
    "accounts:history": "customer",
    "accounts:login": "public",
    "accounts:login_verify": "token",
    "accounts:logout": "public",
    "accounts:not_me": "token",
    "accounts:password_change": "customer",
    "accounts:password_reminder": "customer",
    "accounts:realname": "customer",
    "accounts:realname_upgrade": "customer",
    "accounts:reset": "public",
    "accounts:reset_code": "public",
    "accounts:reset_identity": "public",
    "accounts:reset_password": "token",
    "accounts:security": "customer",
    "accounts:sessions": "customer",
    "accounts:signup": "public",
    "accounts:signup_finish": "public",
    "accounts:sms_factor": "customer",
    "accounts:step_up": "customer",
    "accounts:totp": "customer",
    "accounts:unfreeze": "customer",
    "antifraud:centre": "public",
    "antifraud:report": "public",
    "antifraud:verify": "public",
    "chat:attachment": "public",
    "chat:console": "staff",
    "chat:console_accept": "staff",
    "chat:console_accept_next": "staff",
    "chat:console_availability": "staff",
    "chat:console_chat": "staff",
    "chat:console_end": "staff",
    "chat:console_join": "supervisor",
    "chat:console_queue": "staff",
    "chat:console_supervise": "supervisor",
    "chat:console_transfer": "staff",
    "chat:page": "public",
    "chat:upload": "public",
    "console:home": "staff",
    "contact:contact": "public",
    "healthz": "public",
    "helpdesk:attachment": "customer",
    "helpdesk:complaint_extend": "staff",
    "helpdesk:complaint_outcome": "staff",
    "helpdesk:csat": "token",
    "helpdesk:customer": "staff",
    "helpdesk:customer_reveal": "staff",
    "helpdesk:customers": "staff",
    "helpdesk:dashboard": "supervisor",
    "helpdesk:inbox": "staff",
    "helpdesk:portal_complaint": "customer",
    "helpdesk:portal_list": "customer",
    "helpdesk:portal_new": "customer",
    "helpdesk:portal_ticket": "customer",
    "helpdesk:presence": "staff",
    "helpdesk:ticket": "staff",
    "helpdesk:ticket_assign": "staff",
    "helpdesk:ticket_link": "staff",
    "helpdesk:ticket_live": "staff",
    "helpdesk:ticket_reply": "staff",
    "helpdesk:ticket_status": "staff",
    "helpdesk:ticket_update": "staff",
    "hours:hours": "public",
    "kb:article": "public",
    "kb:contacted": "public",
    "kb:feedback": "public",
    "kb:flow": "public",
    "kb:flow_step": "public",
    "kb:home": "public",
    "kb:search": "public",
    "mail:inbound": "staff",
    "mail:inbound_detail": "staff",
    "mail:inbound_raw": "staff",
    "mail:inbound_refile": "staff",
    "mail:outbox": "staff",
    "mail:outbox_retry": "staff",
    "ops:metrics": "signed",
    "ops:status": "supervisor",
    "payments:cards": "customer",
    "payments:console_mismatch": "staff",
    "payments:console_mismatch_channel_error": "staff",
    "payments:console_mismatch_resolve": "staff",
    "payments:console_mismatch_settle": "staff",
    "payments:console_mismatch_ticket": "staff",
    "payments:console_reconciliation": "staff",
    "payments:console_reversal_approve": "staff",
    "payments:console_reversal_reject": "staff",
    "payments:console_reverse": "staff",
    "payments:console_transaction": "staff",
    "payments:deposit": "customer",
    "payments:detail": "customer",
    "payments:home": "customer",
    "payments:notify": "signed",
    "payments:records": "customer",
    "payments:records_csv": "customer",
    "payments:self_check": "customer",
    "payments:transfer": "customer",
    "payments:withdraw": "customer",
    "portal:home": "public",
    "readyz": "public",
    "set_language": "public",
    "voice:call": "staff",
    "voice:call_hangup": "staff",
    "voice:call_take": "staff",
    "voice:call_wrapup": "staff",
    "voice:callback_outcome": "staff",
    "voice:callback_update": "staff",
    "voice:callbacks": "staff",
    "voice:calls": "staff",
    "voice:ready": "staff",
    "voice:screen_pop": "staff",
    "voice:twilio_agent_dial": "signed",
    "voice:twilio_bridge": "signed",
    "voice:twilio_callback_connect": "signed",
    "voice:twilio_callback_result": "signed",
    "voice:twilio_callback_status": "signed",
    "voice:twilio_gather": "signed",
    "voice:twilio_incoming": "signed",
    "voice:twilio_queue_exit": "signed",
    "voice:twilio_recorded": "signed",
    "voice:twilio_status": "signed",
    "voice:twilio_wait": "signed",
    "voice:voicemails": "staff",
    "voice:waiting": "staff",
}

API = {
    "DELETE /api/v1/auth/token": "customer",
    "DELETE /api/v1/me/2fa/totp": "customer",
    "DELETE /api/v1/me/closure": "customer",
    "DELETE /api/v1/me/sessions/{kind}/{session_id}": "customer",
    "DELETE /api/v1/wallet/cards/{card_id}": "customer",
    "GET /api/v1/antifraud/verify": "public",
    "GET /api/v1/app/version": "public",
    "GET /api/v1/contact": "public",
    "GET /api/v1/helpdesk/dashboard": "supervisor",
    "GET /api/v1/helpdesk/quiet-hours": "public",
    "GET /api/v1/hours": "public",
    "GET /api/v1/kb/articles": "public",
    "GET /api/v1/kb/articles/{slug}": "public",
    "GET /api/v1/kb/search": "public",
    "GET /api/v1/kb/still-need-help": "public",
    "GET /api/v1/me": "customer",
    "GET /api/v1/me/closure": "customer",
    "GET /api/v1/me/payment-class": "customer",
    "GET /api/v1/me/realname": "customer",
    "GET /api/v1/me/realname/sources": "customer",
    "GET /api/v1/me/security": "customer",
    "GET /api/v1/me/security/events": "customer",
    "GET /api/v1/me/sessions": "customer",
    "GET /api/v1/me/unfreeze": "customer",
    "GET /api/v1/staff/transactions/{reference}": "staff",
    "GET /api/v1/tickets": "signed_in",
    "GET /api/v1/tickets/{number}": "signed_in",
    "GET /api/v1/wallet": "customer",
    "GET /api/v1/wallet/cards": "customer",
    "GET /api/v1/wallet/transactions": "customer",
    "GET /api/v1/wallet/transactions/{reference}": "customer",
    "POST /api/v1/antifraud/reports": "public",
    "POST /api/v1/auth/password-check": "public",
    "POST /api/v1/auth/password-reset": "public",
    "POST /api/v1/auth/password-reset/code": "public",
    "POST /api/v1/auth/password-reset/identity": "public",
    "POST /api/v1/auth/password-reset/verify": "public",
    "POST /api/v1/auth/signup": "public",
    "POST /api/v1/auth/signup/code": "public",
    "POST /api/v1/auth/token": "public",
    "POST /api/v1/auth/token/second-factor": "public",
    "POST /api/v1/auth/token/sms-code": "public",
    "POST /api/v1/complaints": "customer",
    "POST /api/v1/kb/articles/{slug}/feedback": "signed_in",
    "POST /api/v1/kb/articles/{slug}/viewed": "signed_in",
    "POST /api/v1/kb/bot-answer": "public",
    "POST /api/v1/kb/flows/runs/{run_id}/finish": "signed_in",
    "POST /api/v1/kb/flows/{flow}/check": "signed_in",
    "POST /api/v1/me/2fa/recovery-codes": "customer",
    "POST /api/v1/me/2fa/totp": "customer",
    "POST /api/v1/me/2fa/totp/confirm": "customer",
    "POST /api/v1/me/closure": "customer",
    "POST /api/v1/me/contact/{kind}/confirm": "customer",
    "POST /api/v1/me/contact/{kind}/start": "customer",
    "POST /api/v1/me/email/code": "customer",
    "POST /api/v1/me/email/verify": "customer",
    "POST /api/v1/me/freeze": "customer",
    "POST /api/v1/me/password": "customer",
    "POST /api/v1/me/realname": "customer",
    "POST /api/v1/me/realname/sources/{source}": "customer",
    "POST /api/v1/me/sessions/logout-all": "customer",
    "POST /api/v1/me/unfreeze": "customer",
    "POST /api/v1/me/unfreeze/code": "customer",
    "POST /api/v1/security/step-up": "customer",
    "POST /api/v1/security/step-up/sms": "customer",
    "POST /api/v1/staff/customers/{public_id}/freeze": "staff",
    "POST /api/v1/staff/reversals/{reference}/approve": "supervisor",
    "POST /api/v1/staff/reversals/{reference}/reject": "supervisor",
    "POST /api/v1/staff/transactions/{reference}/reversals": "staff",
    "POST /api/v1/tickets": "signed_in",
    "POST /api/v1/tickets/{number}/assign": "signed_in",
    "POST /api/v1/tickets/{number}/csat": "signed_in",
    "POST /api/v1/tickets/{number}/messages": "signed_in",
    "POST /api/v1/tickets/{number}/status": "signed_in",
    "POST /api/v1/voice/cti/events": "signed",
    "POST /api/v1/wallet/cards": "customer",
    "POST /api/v1/wallet/deposit-check": "customer",
    "POST /api/v1/wallet/deposits": "customer",
    "POST /api/v1/wallet/payees/lookup": "customer",
    "POST /api/v1/wallet/transfers": "customer",
    "POST /api/v1/wallet/withdrawals": "customer",
    "PUT /api/v1/me/2fa/sms": "customer",
}

REFUSED = {400, 401, 403, 404, 405, 422, 429}  # 400/422: rejected before anything was done


def _login_redirect(response) -> bool:
    return response.status_code in (301, 302) and "/accounts/login/" in response.get("Location", "")


def _refused(response) -> bool:
    return response.status_code in REFUSED or _login_redirect(response)


# A 403 that asks for a fresh second factor passed the access gate: the person may do this,
# after proving it is them again.
GATE_PASSED_CODES = {"step_up_required"}


def _code(response) -> str:
    if "json" not in response.get("Content-Type", ""):
        return ""
    try:
        return response.json().get("code", "")
    except ValueError:
        return ""


def _allowed(response) -> bool:
    if response.status_code == 403 and _code(response) in GATE_PASSED_CODES:
        return True
    return response.status_code not in (401, 403) and not _login_redirect(response)


def _call(client, method: str, path: str, *, api: bool):
    if method == "GET":
        return client.get(path)
    if api:
        return client.generic(method, path, data=b"{}", content_type="application/json")
    return client.post(path, {})


def test_every_route_has_an_access_entry():
    pages = {name for name, _path in page_routes()}
    apis = {key for key, _method, _path in api_routes()}
    assert sorted(pages - PAGES.keys()) == [], "new page routes need an entry in PAGES"
    assert sorted(apis - API.keys()) == [], "new API operations need an entry in API"
    assert sorted(PAGES.keys() - pages) == [], "PAGES lists routes that no longer exist"
    assert sorted(API.keys() - apis) == [], "API lists operations that no longer exist"


@pytest.fixture
def people(db, alice, agent, supervisor, client_for):
    from django.test import Client

    return {
        "anonymous": Client(),
        "customer": client_for(alice),
        "agent": client_for(agent),
        "supervisor": client_for(supervisor),
    }


def _check(expected: str, role: str, response, where: str) -> None:
    status = response.status_code
    assert status < 500, f"{where} as {role}: server error {status}"
    if expected == "public":
        assert status not in (401, 403) and not _login_redirect(response), f"{where} refused {role}"
    elif expected == "customer":
        if role == "anonymous":
            assert _refused(response), f"{where} served an anonymous visitor ({status})"
        elif role == "customer":
            assert _allowed(response), f"{where} refused the customer ({status})"
    elif expected == "signed_in":
        if role == "anonymous":
            assert _refused(response), f"{where} served an anonymous visitor ({status})"
        else:
            assert _allowed(response), f"{where} refused {role} ({status})"
    elif expected == "staff":
        if role in ("anonymous", "customer"):
            assert _refused(response), f"{where} served {role} ({status})"
        else:
            assert _allowed(response), f"{where} refused {role} ({status})"
    elif expected == "supervisor":
        if role in ("anonymous", "customer", "agent"):
            assert _refused(response), f"{where} served {role} ({status})"
        else:
            assert _allowed(response), f"{where} refused the supervisor ({status})"
    elif expected in ("signed", "token"):
        if role == "anonymous":
            assert not (200 <= status < 300) or expected == "token", f"{where} served an unsigned request"
    else:  # pragma: no cover - a typo in the table
        raise AssertionError(f"unknown access class {expected!r}")


@pytest.mark.parametrize(("name", "path"), page_routes(), ids=[name for name, _ in page_routes()])
def test_page_route_access(people, name, path):
    expected = PAGES.get(name)
    if expected is None:
        pytest.fail(f"{name} has no entry in PAGES")
    for role, client in people.items():
        _check(expected, role, _call(client, "GET", path, api=False), f"GET {path}")
    for role in ("anonymous", "customer"):
        _check(expected, role, _call(people[role], "POST", path, api=False), f"POST {path}")


@pytest.mark.parametrize(("key", "method", "path"), api_routes(), ids=[key for key, _, _ in api_routes()])
def test_api_route_access(people, key, method, path):
    expected = API.get(key)
    if expected is None:
        pytest.fail(f"{key} has no entry in API")
    for role, client in people.items():
        _check(expected, role, _call(client, method, path, api=True), key)
