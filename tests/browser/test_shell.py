import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_page_shows_the_hotline_from_the_contact_source(page, live_server, shot):
    page.goto(live_server.url + "/")
    footer = page.get_by_test_id("footer-hotline")
    assert "400-820-6655" in footer.inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    shot(page, "home-zh")


def test_switching_to_english_works(page, live_server, shot):
    page.goto(live_server.url + "/contact")
    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Contact us").is_visible()
    shot(page, "contact-en")
    page.get_by_test_id("lang-switch").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    shot(page, "contact-zh")


def test_404_page_is_friendly(page, live_server, shot):
    response = page.goto(live_server.url + "/there-is-no-such-page")
    assert response.status == 404
    assert page.get_by_role("heading", name="页面不存在").is_visible()
    assert page.get_by_role("link", name="返回首页").is_visible()
    shot(page, "404")


def test_phone_width_layout_has_no_horizontal_scroll(new_context, live_server, shot):
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    page.goto(live_server.url + "/contact")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shot(page, "contact-phone")


def test_agent_logs_in_to_the_console(page, live_server, agent, password, shot):
    page.goto(live_server.url + "/console/")
    page.get_by_label("手机号、邮箱或用户ID").fill("zhou")
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/")
    assert page.get_by_role("heading", name="客服工作台").is_visible()
    shot(page, "console-home")
