"""Pages render for the people who use them, and forms do what they say."""

from okwallet.core.models import AuditLogEntry
from okwallet.helpdesk.models import Category, Macro, Ticket
from okwallet.helpdesk.services import ticket_create


def test_agent_inbox_views_and_search(agent, online, alice, client_for):
    online(agent, "payments")
    t = ticket_create(
        channel="web", category="deposit", subject="充值失败", body="银行卡充值失败了", customer=alice
    )
    c = client_for(agent)
    for view in ("mine", "unassigned", "breaching", "all"):
        assert c.get(f"/console/tickets/?view={view}").status_code == 200
    page = c.get("/console/tickets/?view=all&q=充值").content.decode()
    assert t.number in page
    assert t.number not in c.get("/console/tickets/?view=all&q=提现").content.decode()
    partial = c.get("/console/tickets/?view=all", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and t.number in partial


def test_inbox_counts_no_further_than_its_cap(agent, online, alice, client_for, monkeypatch):
    """A big inbox shows "more than N" instead of counting every match (a COUNT over a LIMITed
    subquery); a small one shows the exact count and pages."""
    from okwallet.core.paging import CappedPaginator

    online(agent, "payments")
    monkeypatch.setattr(CappedPaginator, "cap", 30)
    numbers = [
        ticket_create(
            channel="web", category="deposit", subject=f"充值{i}", body="充值失败", customer=alice
        ).number
        for i in range(32)
    ]
    c = client_for(agent)

    def page(query: str) -> str:
        return c.get(f"/console/tickets/?{query}", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    big = page("view=all")
    assert "more than 30 tickets" in big and numbers[-1] in big
    assert "of 2" not in big  # no total page count it cannot know
    page2 = page("view=all&page=2")
    assert numbers[6] in page2 and numbers[-1] not in page2
    small = page("view=all&q=" + numbers[3])
    assert "(1 ticket)" in small and "more than" not in small
    monkeypatch.setattr(CappedPaginator, "cap", 32)  # exactly at the cap: counted exactly
    assert "Page 1 of 2 (32 tickets)" in page("view=all")
    assert "第 1 页（超过" not in c.get("/console/tickets/?view=all").content.decode()
    monkeypatch.setattr(CappedPaginator, "cap", 31)
    assert (
        "第 1 页（超过 31 个工单"
        in c.get("/console/tickets/?view=all", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    )


def test_ticket_page_shows_timeline_360_and_macro(agent, online, alice, client_for):
    online(agent, "payments")
    Macro.objects.create(title="问候", body="{customer_name}您好，工单{ticket_number}已收到")
    t = ticket_create(
        channel="web", category="deposit", subject="充值失败", body="银行卡充值失败了", customer=alice
    )
    page = client_for(agent).get(f"/console/tickets/{t.number}/").content.decode()
    assert "银行卡充值失败了" in page and "Customer 360" in page or "客户" in page
    assert f"工单{t.number}已收到" in page
    assert "+8613800000001" not in page  # phone is masked until revealed


def test_agent_reply_and_note_from_console(agent, online, alice, client_for):
    online(agent, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    c = client_for(agent)
    r = c.post(f"/console/tickets/{t.number}/reply/", {"body": "已处理", "set_status": ""})
    assert r.status_code == 302
    c.post(f"/console/tickets/{t.number}/reply/", {"body": "内部备注", "internal": "on"})
    t.refresh_from_db()
    assert t.status == "pending"
    assert t.messages.filter(kind="note", public=False, body="内部备注").exists()
    assert AuditLogEntry.objects.filter(action="ticket.reply").exists()


def test_collision_detection_shows_who_else_is_here(agent, make_staff, online, alice, client_for):
    other = make_staff("wu", "agent", "小吴")
    online(agent, "payments")
    online(other, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    client_for(other).get(f"/console/tickets/{t.number}/live/?mode=replying")
    page = client_for(agent).get(f"/console/tickets/{t.number}/live/").content.decode()
    assert "小吴" in page


def test_assigning_to_an_offline_agent_is_a_clear_error(agent, make_staff, online, alice, client_for):
    absent = make_staff("li", "agent", "小李")
    online(agent, "payments")
    from okwallet.helpdesk.services import queues_ensure

    queues_ensure()["payments"].members.add(absent)
    t = ticket_create(
        channel="web", category="deposit", subject="s", body="b", customer=alice, auto_assign=False
    )
    r = client_for(agent).post(f"/console/tickets/{t.number}/assign/", {"assignee": "li"}, follow=True)
    assert "offline" in r.content.decode() or "离线" in r.content.decode()
    t.refresh_from_db()
    assert t.assignee_id is None


def test_customer_search_and_audited_reveal(agent, alice, client_for):
    c = client_for(agent)
    r = c.get("/console/customers/?q=13800000001")
    assert r.status_code == 302 and alice.public_id in r["Location"]
    r = c.get("/console/customers/?q=0001 Alice")
    assert r.status_code == 302
    page = c.get(f"/console/customers/{alice.public_id}/").content.decode()
    assert "138****0001" in page and "+8613800000001" not in page
    c.post(f"/console/customers/{alice.public_id}/reveal/")
    page = c.get(f"/console/customers/{alice.public_id}/").content.decode()
    assert "+8613800000001" in page
    assert AuditLogEntry.objects.filter(action="customer.pii_revealed", object_id=str(alice.pk)).count() == 1


def test_customer_360_shows_five_past_tickets_and_folds_the_rest(agent, alice, client_for):
    import re

    from okwallet.helpdesk.services import ticket_set_status

    numbers = []
    for i in range(7):
        t = ticket_create(
            channel="web", category="deposit", subject=f"旧问题{i}", body="已解决", customer=alice
        )
        ticket_set_status(ticket=t, status="closed", actor=agent)
        numbers.append(t.number)
    page = client_for(agent).get(f"/console/customers/{alice.public_id}/").content.decode()
    folded = re.search(r"<details>.*?</details>", page, re.S).group(0)
    in_fold = [n for n in numbers if n in folded]
    assert len(in_fold) == 2 and all(n in page for n in numbers)
    assert "另外 2 个" in folded


def test_customer_search_by_email_ticket_number_and_user_id(agent, alice, client_for):
    c = client_for(agent)
    assert alice.public_id in c.get("/console/customers/?q=alice@example.com")["Location"]
    assert alice.public_id in c.get(f"/console/customers/?q={alice.public_id}")["Location"]
    nobody = c.get("/console/customers/?q=nobody@example.com")
    assert (
        nobody.status_code == 200 and f"/console/customers/{alice.public_id}/" not in nobody.content.decode()
    )


def test_closed_accounts_are_hidden_from_the_everyday_customer_search(agent, alice, client_for):
    from okwallet.helpdesk.selectors import customer_search

    alice.status = "closed"
    alice.save(update_fields=["status"])
    page = client_for(agent).get(f"/console/customers/?q={alice.public_id}")
    assert page.status_code == 200 and f"/console/customers/{alice.public_id}/" not in page.content.decode()
    assert customer_search(alice.public_id) == []
    assert customer_search(alice.public_id, include_closed=True) == [alice]


def test_customer_files_request_in_portal(alice, client_for, queues):
    c = client_for(alice)
    assert c.get("/support/new/").status_code == 200
    r = c.post("/support/new/", {"category": "withdrawal", "subject": "提现未到账", "body": "昨天提现500元"})
    assert r.status_code == 302
    t = Ticket.objects.get()
    assert t.customer == alice and t.channel == "web" and t.queue.code == "payments"
    assert t.number in c.get("/support/").content.decode()


def test_portal_form_rejects_invalid_category_without_writing(alice, client_for, queues):
    r = client_for(alice).post("/support/new/", {"category": "lottery", "subject": "s", "body": "b"})
    assert r.status_code == 422
    assert Ticket.objects.count() == 0


def test_complaint_form_tells_the_deadlines(alice, client_for, queues):
    c = client_for(alice)
    assert c.get("/support/complaint/").status_code == 200
    r = c.post("/support/complaint/", {"kind": "complaint", "subject": "提现太慢", "body": "三天了还没到"})
    assert r.status_code == 302
    t = Ticket.objects.get()
    assert t.category == Category.COMPLAINT and t.queue.code == "complaints"
    page = c.get(r["Location"]).content.decode()
    assert t.complaint_outcome_due.astimezone().strftime("%Y") in page
    assert 'data-testid="complaint-deadlines"' in page


def test_home_panels_render(alice, agent, online, client_for, queues):
    online(agent, "payments")
    ticket_create(channel="web", category="deposit", subject="面板", body="b", customer=alice)
    assert "面板" in client_for(alice).get("/").content.decode()
    assert client_for(agent).get("/console/").status_code == 200


def test_dashboard_renders_with_data(supervisor, alice, agent, online, client_for):
    online(agent, "payments")
    ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    r = client_for(supervisor).get("/console/dashboard/")
    assert r.status_code == 200 and "hd-heatmap" in r.content.decode()
    data = client_for(supervisor).get("/api/v1/helpdesk/dashboard").json()
    assert data["open_total"] == 1 and len(data["heatmap"]) == 7


def test_contact_page_shows_measured_quiet_hours(client, queues, alice):
    from datetime import timedelta

    from okwallet.core.timeutil import SHANGHAI, now_utc

    base = now_utc().astimezone(SHANGHAI)
    rows = []
    for n in range(80):
        t = ticket_create(
            channel="web", category="other", subject="s", body="b", customer=alice, auto_assign=False
        )
        # every working-day hour busy except 15:00
        day = base - timedelta(days=1 + n % 20)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        hour = [9, 10, 11, 12, 13, 14, 16, 17][n % 8]
        rows.append((t.pk, day.replace(hour=hour, minute=5)))
    for pk, when in rows:
        Ticket.objects.filter(pk=pk).update(created_at=when)
    from django.urls import reverse

    page = client.get(reverse("contact:contact")).content.decode()
    assert 'data-testid="quiet-hours"' in page and "15:00–16:00" in page


def test_back_office_lists_tickets_and_policies(make_staff, alice, queues, client_for):
    admin_user = make_staff("root", "admin")
    ticket_create(channel="web", category="deposit", subject="后台", body="b", customer=alice)
    c = client_for(admin_user)
    assert "后台" in c.get("/admin/helpdesk/ticket/").content.decode()
    assert c.get("/admin/helpdesk/slapolicy/add/").status_code == 200
