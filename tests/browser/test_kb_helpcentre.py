"""The help centre in Chromium: search, read an article, give feedback, run the deposit self-check."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def articles(reference_data):
    """Transactional tests flush the articles the migration loaded; load them again."""
    from okwallet.kb.loader import load_articles
    from okwallet.kb.search.engine import CACHE

    load_articles()
    CACHE._indexes = {}
    CACHE._version = None


def test_search_as_you_type_then_read_the_article_and_give_feedback(page, live_server, shot):
    page.goto(live_server.url + "/help/")
    shot(page, "kb-home")
    box = page.get_by_role("searchbox")
    box.fill("充值没到账")
    page.locator("#kb-live [data-testid=hit]").first.wait_for()
    assert (
        page.locator("#kb-live [data-testid=hit]").first.get_attribute("data-slug") == "deposit-not-arrived"
    )
    assert page.locator("#kb-live mark").count() > 0
    shot(page, "kb-live-search")
    box.press("Enter")
    page.wait_for_url("**/help/search?q=*")
    shot(page, "kb-search-results")
    page.locator("[data-testid=hit] a").first.click()
    page.wait_for_url("**/help/a/deposit-not-arrived")
    assert page.get_by_role("heading", level=1).inner_text().startswith("充值未到账")
    assert page.get_by_test_id("still-need-help").is_visible()
    page.get_by_label("否").check()
    page.get_by_label("有什么需要补充或改正的吗？（选填）").fill("希望写清楚退款几天到")
    page.get_by_role("button", name="提交反馈").click()
    page.get_by_test_id("feedback-thanks").wait_for()
    shot(page, "kb-article-feedback")
    from okwallet.kb.models import Feedback

    row = Feedback.objects.get()
    assert row.helpful is False and "退款" in row.comment


def test_deposit_self_check_ends_in_a_prefilled_ticket(page, live_server, shot):
    page.goto(live_server.url + "/help/a/deposit-not-arrived")
    page.get_by_test_id("start-flow").click()
    page.get_by_test_id("flow-start").click()
    conn = page.get_by_test_id("conn-test")
    # A locator assertion, not wait_for_function: the page's CSP forbids the eval() that a string
    # predicate needs, and the predicate only runs that eval when the first check is not yet true.
    expect(page.locator("#kb-conn")).not_to_have_attribute("data-state", "unknown")
    assert conn.get_attribute("data-state") == "ok"
    shot(page, "kb-flow-basics")
    page.get_by_test_id("flow-next").click()
    page.get_by_label("时间（日期和时刻）").fill("2026-12-01 10:00")
    page.get_by_label("金额（元）").fill("200")
    page.get_by_label("方式", exact=True).select_option("wechat")
    shot(page, "kb-flow-pick")
    page.get_by_test_id("run-check").click()
    page.get_by_test_id("flow-result").wait_for()
    shot(page, "kb-flow-result")
    page.get_by_test_id("flow-ticket").click()
    assert "¥200.00" in page.get_by_test_id("ticket-preview").inner_text()
    page.locator("#t-phone").fill("13800138000")
    shot(page, "kb-flow-ticket")
    page.get_by_test_id("ticket-submit").click()
    number = page.get_by_test_id("ticket-number").inner_text()
    assert number.startswith("OK")
    shot(page, "kb-flow-done")


def test_english_article_and_phone_layout(new_context, live_server, shot):
    ctx = new_context(locale="en-US", viewport={"width": 375, "height": 740})
    page = ctx.new_page()
    page.goto(live_server.url + "/help/a/hotline")
    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    if page.locator("html").get_attribute("lang") != "en":
        page.get_by_test_id("lang-switch").click()
        page.wait_for_load_state()
    assert "hotline" in page.get_by_role("heading", level=1).inner_text().lower()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shot(page, "kb-article-en-phone")


def test_supervisor_sees_deflection_feedback_and_zero_result_searches(
    page, live_server, supervisor, password, shot
):
    from okwallet.kb import demo

    demo.seed()
    page.goto(live_server.url + "/console/dashboard/")
    page.get_by_label("手机号、邮箱或用户ID").fill("zhao")
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/dashboard/")
    panel = page.get_by_test_id("kb-dashboard-panel")
    panel.wait_for()
    assert "%" in page.get_by_test_id("deflection-share").inner_text()
    assert "发票怎么开" in page.get_by_test_id("zero-results").inner_text()
    expect(page.locator("#kb-deflection-chart")).to_have_attribute("width", re.compile(r"\d"))
    panel.scroll_into_view_if_needed()
    shot(page, "kb-dashboard-panel")
