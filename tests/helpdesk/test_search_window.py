"""Searching the newest tickets first (search.newest_matches) returns exactly what the plain
indexed search returns, page by page, whether the matches are common, rare or tied in time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from okwallet.helpdesk import search
from okwallet.helpdesk.models import Ticket
from okwallet.helpdesk.services import ticket_create


@pytest.fixture
def tickets(alice, queues):
    """40 tickets a minute apart: every 3rd about 银行卡到账, one old one about 注销; four share
    one moment (a tie across the window's edge)."""
    made = []
    for i in range(40):
        subject = "银行卡到账很慢" if i % 3 == 0 else ("申请注销账户" if i == 1 else "登录问题")
        made.append(
            ticket_create(channel="web", category="other", subject=subject, body="请处理", customer=alice)
        )
    start = timezone.now() - timedelta(days=1)
    for i, t in enumerate(made):
        moment = start + timedelta(minutes=i if not 20 <= i < 24 else 20)
        Ticket.objects.filter(pk=t.pk).update(created_at=moment)
    return made


def _plain(qs, query, n):
    return [r["id"] for r in search.filter_queryset(qs, query).values("id")[:n]]


@pytest.mark.parametrize("window", [5, 17, 18, 19, 1000])
@pytest.mark.parametrize("query", ["银行卡 到账", "注销", "登录", "没有这个词"])
def test_newest_matches_equals_the_indexed_search(tickets, monkeypatch, window, query):
    monkeypatch.setattr(search, "RECENT_WINDOW", window)
    qs = Ticket.objects.order_by("-created_at", "-id")
    for n in (1, 3, 10, 26):
        got = [r["id"] for r in search.newest_matches(qs.values("id", "created_at"), query, n)]
        assert got == _plain(qs, query, n), (window, query, n)
    if query == "银行卡 到账":
        assert len(_plain(qs, query, 26)) == 14


def test_api_search_pages_through_every_match_once(tickets, supervisor, client_for, monkeypatch):
    monkeypatch.setattr(search, "RECENT_WINDOW", 7)
    client = client_for(supervisor)
    seen, params = [], {"view": "all", "q": "银行卡 到账", "limit": 4}
    while True:
        page = client.get("/api/v1/tickets", params).json()
        seen += [t["number"] for t in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    expected = [
        t.number for t in search.filter_queryset(Ticket.objects.order_by("-created_at", "-id"), "银行卡 到账")
    ]
    assert seen == expected and len(seen) == 14
