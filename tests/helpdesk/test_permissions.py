"""Permission matrix over every ticket endpoint: the customer, another customer, an agent of
another queue, a senior manager, anonymous."""

import pytest

from okwallet.helpdesk.services import ticket_create


@pytest.fixture
def people(alice, bob, agent, manager, make_staff, online, queues):
    other_agent = make_staff("wu", "agent", "客服 小吴")
    online(agent, "payments")
    online(other_agent, "security")
    online(manager)
    return {"alice": alice, "bob": bob, "agent": agent, "other_agent": other_agent, "manager": manager}


@pytest.fixture
def deposit(people):
    return ticket_create(
        channel="web", category="deposit", subject="充值没到账", body="100元", customer=people["alice"]
    )


@pytest.fixture
def complaint(people):
    return ticket_create(
        channel="web", category="complaint", subject="投诉", body="处理太慢", customer=people["alice"]
    )


def _client(client_for, people, who):
    from django.test import Client

    return Client() if who == "anon" else client_for(people[who])


PAGE_ALLOWED = {
    "alice": False,
    "bob": False,
    "agent": True,
    "other_agent": False,
    "manager": True,
    "anon": False,
}


@pytest.mark.parametrize("who", list(PAGE_ALLOWED))
def test_console_ticket_page_matrix(who, people, deposit, client_for):
    r = _client(client_for, people, who).get(f"/console/tickets/{deposit.number}/")
    if PAGE_ALLOWED[who]:
        assert r.status_code == 200 and deposit.number in r.content.decode()
    elif who == "anon":
        assert r.status_code == 302 and "/login" in r["Location"]
    else:
        assert r.status_code in (403, 404)


@pytest.mark.parametrize(
    "who,allowed",
    [
        ("alice", True),
        ("bob", False),
        ("agent", False),
        ("other_agent", False),
        ("manager", False),
        ("anon", False),
    ],
)
def test_portal_ticket_page_matrix(who, allowed, people, deposit, client_for):
    r = _client(client_for, people, who).get(f"/support/t/{deposit.number}/")
    if allowed:
        assert r.status_code == 200 and "充值没到账" in r.content.decode()
    elif who == "anon":
        assert r.status_code == 302
    elif who in ("agent", "other_agent", "manager"):
        assert r.status_code == 302 and "/console/" in r["Location"]  # staff are sent to the console
    else:
        assert r.status_code == 404


API_GET_ALLOWED = {
    "alice": True,
    "bob": False,
    "agent": True,
    "other_agent": False,
    "manager": True,
    "anon": False,
}


@pytest.mark.parametrize("who", list(API_GET_ALLOWED))
def test_api_ticket_get_matrix(who, people, deposit, client_for):
    r = _client(client_for, people, who).get(f"/api/v1/tickets/{deposit.number}")
    if API_GET_ALLOWED[who]:
        assert r.status_code == 200 and r.json()["number"] == deposit.number
    else:
        assert r.status_code == (401 if who == "anon" else 404)
        assert set(r.json()) == {"code", "message", "details"}


@pytest.mark.parametrize("who", list(API_GET_ALLOWED))
def test_api_reply_matrix(who, people, deposit, client_for):
    r = _client(client_for, people, who).post(
        f"/api/v1/tickets/{deposit.number}/messages", {"body": "hello"}, content_type="application/json"
    )
    if API_GET_ALLOWED[who]:
        assert r.status_code == 201
    else:
        assert r.status_code in (401, 403, 404)
        assert deposit.messages.filter(body="hello").count() == 0


@pytest.mark.parametrize(
    "who,expected",
    [("alice", 403), ("bob", 404), ("agent", 200), ("other_agent", 404), ("manager", 200), ("anon", 401)],
)
def test_api_status_change_matrix(who, expected, people, deposit, client_for):
    r = _client(client_for, people, who).post(
        f"/api/v1/tickets/{deposit.number}/status", {"status": "on_hold"}, content_type="application/json"
    )
    assert r.status_code == expected


@pytest.mark.parametrize(
    "who,allowed",
    [
        ("alice", True),
        ("bob", False),
        ("agent", False),
        ("other_agent", False),
        ("manager", True),
        ("anon", False),
    ],
)
def test_complaint_is_seen_only_by_its_customer_and_senior_managers(
    who, allowed, people, complaint, client_for
):
    r = _client(client_for, people, who).get(f"/api/v1/tickets/{complaint.number}")
    assert (r.status_code == 200) is allowed


def test_customer_list_shows_only_own_tickets(people, deposit, client_for):
    ticket_create(channel="web", category="other", subject="bob's", body="x", customer=people["bob"])
    items = client_for(people["alice"]).get("/api/v1/tickets").json()["items"]
    assert [t["number"] for t in items] == [deposit.number]


def test_agent_inbox_hides_other_queues(people, deposit, client_for):
    sec = ticket_create(channel="web", category="security", subject="被盗", body="x", customer=people["bob"])
    numbers = {
        t["number"] for t in client_for(people["agent"]).get("/api/v1/tickets?view=all").json()["items"]
    }
    assert deposit.number in numbers and sec.number not in numbers


def test_customer_never_sees_internal_notes(people, deposit, client_for):
    from okwallet.helpdesk.services import ticket_add_message

    ticket_add_message(ticket=deposit, body="内部：疑似欺诈", author=people["agent"], public=False)
    body = client_for(people["alice"]).get(f"/api/v1/tickets/{deposit.number}").json()
    assert all("疑似欺诈" not in m["body"] for m in body["messages"])
    page = client_for(people["alice"]).get(f"/support/t/{deposit.number}/").content.decode()
    assert "疑似欺诈" not in page


def test_attachment_download_matrix(people, client_for, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    t = ticket_create(
        channel="web",
        category="deposit",
        subject="s",
        body="b",
        customer=people["alice"],
        attachments=[{"filename": "a.pdf", "content_type": "application/pdf", "content": b"%PDF-1.4 x"}],
    )
    att = t.attachments.get()
    assert client_for(people["alice"]).get(f"/support/files/{att.pk}/").status_code == 200
    assert client_for(people["bob"]).get(f"/support/files/{att.pk}/").status_code == 404
    assert client_for(people["other_agent"]).get(f"/support/files/{att.pk}/").status_code == 404


def test_dashboard_is_for_supervisors_and_senior_managers(people, supervisor, client_for):
    assert client_for(supervisor).get("/console/dashboard/").status_code == 200
    assert client_for(people["manager"]).get("/console/dashboard/").status_code == 200
    assert client_for(people["agent"]).get("/console/dashboard/").status_code == 403
    assert client_for(people["alice"]).get("/api/v1/helpdesk/dashboard").status_code == 403


CONSOLE_POSTS = {
    "reply": {"body": "hi"},
    "status": {"status": "on_hold"},
    "assign": {"assignee": "me"},
    "update": {"priority": "4", "category": "deposit", "tags": "x"},
    "link": {"target": "REF123"},
}


@pytest.mark.parametrize("endpoint", list(CONSOLE_POSTS))
@pytest.mark.parametrize("who", ["alice", "bob", "other_agent", "anon"])
def test_console_actions_are_refused_to_outsiders(endpoint, who, people, deposit, client_for):
    from okwallet.helpdesk.models import TicketEvent

    before = (deposit.messages.count(), TicketEvent.objects.filter(ticket=deposit).count())
    r = _client(client_for, people, who).post(
        f"/console/tickets/{deposit.number}/{endpoint}/", CONSOLE_POSTS[endpoint]
    )
    assert r.status_code in (302, 403, 404)
    if who == "anon":
        assert "/login" in r["Location"]
    deposit.refresh_from_db()
    assert (deposit.messages.count(), TicketEvent.objects.filter(ticket=deposit).count()) == before
    assert deposit.status == "new" and deposit.priority == 2


@pytest.mark.parametrize("endpoint", ["extend", "outcome"])
@pytest.mark.parametrize(
    "who,allowed",
    [
        ("alice", False),
        ("bob", False),
        ("agent", False),
        ("other_agent", False),
        ("manager", True),
        ("anon", False),
    ],
)
def test_complaint_actions_matrix(endpoint, who, allowed, people, complaint, client_for):
    data = {"reason": "需要银行协查"} if endpoint == "extend" else {"outcome": "已处理"}
    r = _client(client_for, people, who).post(f"/console/tickets/{complaint.number}/{endpoint}/", data)
    complaint.refresh_from_db()
    changed = complaint.complaint_extended_at is not None or complaint.outcome_recorded_at is not None
    assert changed is allowed
    if not allowed:
        assert r.status_code in (302, 403, 404)


@pytest.mark.parametrize(
    "who,expected",
    [("alice", 403), ("bob", 404), ("agent", 200), ("other_agent", 404), ("manager", 200), ("anon", 401)],
)
def test_api_assign_matrix(who, expected, people, deposit, client_for):
    r = _client(client_for, people, who).post(
        f"/api/v1/tickets/{deposit.number}/assign", {"assignee": "zhou"}, content_type="application/json"
    )
    assert r.status_code == expected


@pytest.mark.parametrize("who,expected", [("alice", 201), ("bob", 404), ("agent", 403), ("anon", 401)])
def test_api_csat_matrix(who, expected, people, deposit, client_for):
    from okwallet.helpdesk.services import ticket_set_status

    ticket_set_status(ticket=deposit, status="solved", actor=people["agent"])
    r = _client(client_for, people, who).post(
        f"/api/v1/tickets/{deposit.number}/csat", {"score": 4}, content_type="application/json"
    )
    assert r.status_code == expected
