"""Deflection, feedback and searches that found nothing, for the supervisor dashboard."""

from datetime import timedelta

import pytest

from okwallet.core.timeutil import now_utc
from okwallet.kb.models import Visit
from okwallet.kb.selectors import deflection, zero_result_searches

pytestmark = pytest.mark.django_db


def at(visit, when):
    Visit.objects.filter(pk=visit.pk).update(created_at=when)


def visit(visitor, kind, when, user=None, target=""):
    v = Visit.objects.create(visitor=visitor, kind=kind, user=user, target=target)
    at(v, when)
    return v


def test_deflection_counts_self_served_visits_without_a_contact_within_24_hours():
    now = now_utc()
    two_days_ago = now - timedelta(days=2)
    visit("c:a", "view", two_days_ago)  # read, never contacted: deflected
    visit("c:b", "view", two_days_ago)
    visit("c:b", "contact", two_days_ago + timedelta(hours=3), target="chat")  # read, then chatted
    visit("c:c", "search", two_days_ago)  # only searched: a visit, not deflected
    visit("c:d", "flow_done", two_days_ago)
    visit("c:d", "contact", two_days_ago + timedelta(hours=30))  # contact after 24 h does not count
    result = deflection(days=7, now=now)
    assert result["visits"] == 4
    assert result["deflected"] == 2
    assert result["share"] == 0.5


def test_a_customer_ticket_from_any_channel_cancels_the_deflection(alice):
    from okwallet.helpdesk.services import ticket_create

    now = now_utc()
    when = now - timedelta(days=2)
    visit(f"u:{alice.pk}", "view", when, user=alice)
    assert deflection(days=7, now=now)["deflected"] == 1
    ticket = ticket_create(channel="email", category="deposit", subject="钱没到", body="...", customer=alice)
    type(ticket).objects.filter(pk=ticket.pk).update(created_at=when + timedelta(hours=2))
    assert deflection(days=7, now=now)["deflected"] == 0


def test_todays_visits_wait_until_their_24_hours_are_over():
    visit("c:x", "view", now_utc())
    assert deflection(days=7)["visits"] == 0


def test_zero_result_searches_are_ranked_by_how_often(client):
    for q in ["恐龙化石", "恐龙化石", "火星天气", "充值"]:
        client.get("/help/search", {"q": q})
    rows = zero_result_searches()
    assert [r["normalised"] for r in rows][:2] == ["恐龙化石", "火星天气"]
    assert rows[0]["n"] == 2


def test_supervisor_sees_the_help_centre_panel_agents_do_not(supervisor, agent, client):
    from okwallet.kb.hooks import dashboard_panels

    client.post("/help/a/hotline/feedback", {"helpful": "no", "comment": "看不懂"})
    panels = dashboard_panels(supervisor)
    assert len(panels) == 1
    html = str(panels[0]["html"])
    assert 'data-testid="kb-dashboard-panel"' in html and "看不懂" in html
    assert dashboard_panels(agent) == []


def test_panel_appears_on_the_helpdesk_dashboard(client_for, supervisor):
    r = client_for(supervisor).get("/console/dashboard/")
    assert r.status_code == 200
    assert 'data-testid="kb-dashboard-panel"' in r.content.decode()


def test_numbers_customers_type_into_comments_are_masked_on_the_dashboard(supervisor, client):
    from okwallet.kb.hooks import dashboard_panels

    client.post("/help/a/hotline/feedback", {"helpful": "no", "comment": "我的手机 13800138000 收不到"})
    html = str(dashboard_panels(supervisor)[0]["html"])
    assert "13800138000" not in html and "13****00" in html
