"""A customer files a complaint, a senior manager sees it with its deadline and replies, the customer
reads the reply and rates it. Screenshots of every page on the way (Chinese UI)."""

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, identifier, password, next_url):
    page.goto(live_server.url + f"/accounts/login/?next={next_url}")
    page.locator("input[name=identifier]").fill(identifier)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(f"**{next_url}")


def test_complaint_from_filing_to_rating(new_context, live_server, alice, manager, password, shot):
    from okwallet.helpdesk.services import presence_set, queues_ensure

    queues_ensure()["complaints"].members.add(manager)
    presence_set(user=manager, status="online")

    customer = new_context().new_page()
    _login(customer, live_server, "13800000001", password, "/support/complaint/")
    shot(customer, "helpdesk-complaint-form")
    customer.get_by_label("标题").fill("提现三天未到账")
    customer.get_by_label("发生了什么？您希望我们怎么处理？").fill(
        "三天前提现 500 元，至今未到账，请尽快处理。"
    )
    customer.get_by_role("button", name="提交").click()
    customer.wait_for_url(re.compile(r".*/support/t/OK\d{12}/"))
    deadlines = customer.get_by_test_id("complaint-deadlines")
    assert "高级客服经理联系您的时间不晚于" in deadlines.inner_text()
    number = customer.get_by_test_id("ticket-number").inner_text()
    shot(customer, "helpdesk-complaint-filed")

    staff = new_context().new_page()
    _login(staff, live_server, "chen", password, "/console/tickets/?view=unassigned")
    row = staff.get_by_role("link", name=number)
    assert row.is_visible()
    shot(staff, "helpdesk-inbox-manager")
    row.click()
    staff.wait_for_url(f"**/console/tickets/{number}/")
    assert staff.get_by_test_id("outcome-due").is_visible()
    shot(staff, "helpdesk-ticket-manager")
    staff.locator("#id_body").fill("您好，我是陈经理，已联系银行加急核查，今天内给您答复。")
    staff.locator("#id_body").press("Control+Enter")
    staff.wait_for_url(f"**/console/tickets/{number}/")
    staff.locator("#hd-outcome").fill("经核查，银行退票导致延迟，款项已于今日重新到账，手续费已退还。")
    staff.get_by_role("button", name="记录处理结果").click()
    staff.wait_for_url(f"**/console/tickets/{number}/")
    assert "已解决" in staff.locator("main").inner_text()
    shot(staff, "helpdesk-ticket-solved")

    customer.reload()
    text = customer.locator("main").inner_text()
    assert "陈经理" in text and "手续费已退还" in text
    shot(customer, "helpdesk-complaint-answered")
    customer.get_by_role("link", name="评价本次服务").click()
    customer.get_by_label("5", exact=True).check()
    customer.get_by_label("还有什么想告诉我们的吗？（可选）").fill("处理很及时")
    customer.get_by_role("button", name="提交评价").click()
    assert customer.get_by_test_id("csat-thanks").is_visible()
    shot(customer, "helpdesk-csat-thanks")


def test_supervisor_dashboard_and_customer_360(
    new_context, live_server, alice, agent, supervisor, password, shot
):
    from okwallet.helpdesk.services import presence_set, queues_ensure, ticket_create

    queues_ensure()["payments"].members.add(agent)
    presence_set(user=agent, status="online")
    for i, category in enumerate(["deposit", "withdrawal", "security", "other", "deposit"]):
        ticket_create(
            channel=["web", "email", "chat", "phone", "api"][i],
            category=category,
            subject=f"示例 {i}",
            body="充值没有到账",
            customer=alice,
        )
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    _login(page, live_server, "zhao", password, "/console/dashboard/")
    page.locator("#hd-heatmap tbody tr").nth(6).wait_for()
    shot(page, "helpdesk-dashboard")
    page.goto(live_server.url + "/console/customers/")
    page.get_by_label("手机号、尾号4位+姓名、用户 ID、邮箱、交易号或工单号").fill("0001 Alice")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url("**/console/customers/*/")
    assert "138****0001" in page.locator("main").inner_text()
    shot(page, "helpdesk-customer-360-masked")
    page.get_by_role("button", name="查看完整联系信息（将记录审计）").click()
    page.wait_for_load_state()
    assert "+8613800000001" in page.locator("main").inner_text()


def test_agent_inbox_on_a_phone(new_context, live_server, alice, agent, password, shot):
    from okwallet.helpdesk.services import presence_set, queues_ensure, ticket_create

    queues_ensure()["payments"].members.add(agent)
    presence_set(user=agent, status="online")
    ticket_create(
        channel="web", category="deposit", subject="充值失败", body="银行卡充值失败", customer=alice
    )
    page = new_context(viewport={"width": 390, "height": 800}).new_page()
    _login(page, live_server, "zhou", password, "/console/tickets/")
    shot(page, "helpdesk-inbox-phone")
    page.goto(live_server.url + "/console/tickets/?view=all")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/tickets/OK*/")
    shot(page, "helpdesk-ticket-phone")
