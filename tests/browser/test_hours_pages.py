import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_service_hours_page_shows_each_channel_and_its_state(page, live_server, shot):
    page.goto(live_server.url + "/hours/")
    assert page.get_by_role("heading", name="服务时间", exact=True).is_visible()
    hotline = page.get_by_test_id("hours-hotline")
    assert "09:00–18:00" in hotline.inner_text()
    assert any(word in hotline.inner_text() for word in ("正在服务", "当前休息"))
    assert "24 小时服务" in page.get_by_test_id("hours-security").inner_text()
    shot(page, "hours-zh")


def test_service_hours_page_in_english_on_a_phone(new_context, live_server, shot):
    page = new_context(locale="en-US", viewport={"width": 375, "height": 740}).new_page()
    page.goto(live_server.url + "/hours/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Hours by channel").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    shot(page, "hours-en-phone")


def test_supervisor_sees_the_calendar_panel_in_the_console(page, live_server, shot, make_staff, password):
    make_staff("zhao", "supervisor", "赵主管")
    page.goto(live_server.url + "/accounts/login/?next=/console/")
    page.locator("input[name=identifier]").fill("zhao")
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url("**/console/")
    panel = page.get_by_test_id("hours-panel")
    assert panel.is_visible()
    assert "客服热线" in panel.inner_text()
    shot(page, "hours-console-panel")
