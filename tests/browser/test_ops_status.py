import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_supervisor_reads_the_system_status_page(page, live_server, shot, make_staff, password):
    make_staff("zhao", "supervisor", "赵主管")
    page.goto(live_server.url + "/accounts/login/?next=/console/system/")
    page.locator("input[name=identifier]").fill("zhao")
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url("**/console/system/")
    assert page.get_by_role("heading", name="系统状态").is_visible()
    assert "数据库" in page.get_by_test_id("check-database").inner_text()
    assert "正常" in page.get_by_test_id("check-database").inner_text()
    assert page.get_by_test_id("check-worker").is_visible()
    shot(page, "ops-status-zh")
