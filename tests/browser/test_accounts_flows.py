"""Accounts in Chromium: sign up, TOTP set-up and log-in, forgotten password, freeze/unfreeze, closure."""

import re
import time
import uuid

import pyotp
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def _own_rate_limit_namespace(settings):
    settings.OKWALLET_RATELIMIT_NAMESPACE = f"b{uuid.uuid4().hex[:10]}"
    settings.OKWALLET_CODE_SENDS_PER_MINUTE = 10


def last_code(target: str) -> str:
    from okwallet.core.models import Notification

    for _i in range(50):
        note = Notification.objects.filter(to_address=target).order_by("-id").first()
        if note is not None:
            match = re.search(r"(?<!\d)(\d{6})(?!\d)", note.body)
            if match:
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no code sent to {target}")


def log_in(page, base, identifier, password=PASSWORD):
    page.goto(base + "/accounts/login/")
    page.fill("input[name=identifier]", identifier)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def test_sign_up_with_sms_code_then_verify_real_name(page, live_server, shot):
    from okwallet.accounts.models import User

    page.goto(live_server.url + "/accounts/signup/")
    shot(page, "accounts-signup-phone")
    page.fill("input[name=phone]", "139 1234 5678")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/signup/finish/")
    page.fill("input[name=code]", last_code("+8613912345678"))
    page.fill("input[name=password]", "woaini1314")
    assert page.locator(".strength-text").inner_text().strip() != ""
    page.click("main button[type=submit]")
    assert page.locator(".field-error, .notice.error").first.is_visible()  # a common password is refused
    shot(page, "accounts-signup-weak-password")
    page.fill("input[name=code]", last_code("+8613912345678"))
    page.fill("input[name=password]", "Lantern-river-77")
    page.fill("input[name=display_name]", "小新")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/realname/")
    user = User.objects.get(phone="+8613912345678")
    assert user.public_id in page.content()
    page.fill("input[name=name]", "测试用户")
    page.fill("input[name=id_number]", "330106198801012228")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".status.open").first.is_visible()
    shot(page, "accounts-realname-verified")


def test_set_up_totp_then_log_in_with_it(page, live_server, alice, shot):
    log_in(page, live_server.url, "13800000001")
    page.goto(live_server.url + "/accounts/security/2fa/")
    page.click("main button[type=submit]")  # set up
    page.wait_for_selector("#totp-secret")
    shot(page, "accounts-totp-setup")
    secret = page.locator("#totp-secret").inner_text().strip()
    totp = pyotp.TOTP(secret)
    page.fill("input[name=code]", totp.at(time.time() - 30))
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_selector("ul.codes li")
    assert page.locator("ul.codes li").count() == 10
    shot(page, "accounts-recovery-codes")
    page.goto(live_server.url + "/accounts/logout/")
    page.click("main button[type=submit]")
    log_in(page, live_server.url, "13800000001")
    page.wait_for_url("**/accounts/login/verify/")
    shot(page, "accounts-login-totp")
    page.fill("input[name=code]", totp.now())
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login" not in page.url
    page.goto(live_server.url + "/accounts/security/")
    assert alice.public_id in page.content()
    shot(page, "accounts-security")


def test_reset_a_forgotten_password(page, live_server, alice, shot):
    page.goto(live_server.url + "/accounts/login/")
    page.click("a[href='/accounts/password/forgot/']")
    page.fill("input[name=phone]", "13800000001")
    page.click("main button[type=submit]")
    page.wait_for_url("**/forgot/code/")
    page.fill("input[name=code]", last_code("+8613800000001"))
    page.click("main button[type=submit]")
    page.wait_for_url("**/password/reset/**")
    reset_url = page.url
    page.fill("input[name=password]", "Brand-new-lantern-9")
    shot(page, "accounts-reset-new-password")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/login/")
    log_in(page, live_server.url, "13800000001", "Brand-new-lantern-9")
    assert "/accounts/login" not in page.url
    # The link cannot be used twice.
    response = page.goto(reset_url)
    assert response.status == 410
    shot(page, "accounts-reset-link-used")


def test_freeze_and_unfreeze(page, live_server, alice, shot):
    from okwallet.accounts.models import User

    log_in(page, live_server.url, "13800000001")
    page.goto(live_server.url + "/accounts/security/")
    page.click("a[href='/accounts/security/freeze/']")
    page.select_option("select[name=reason]", "lost_phone")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/security/")
    assert User.objects.get(pk=alice.pk).status == "frozen"
    shot(page, "accounts-frozen")
    page.click("main .notice a[href='/accounts/security/unfreeze/']")
    page.click("form:has(input[value=send]) button")
    page.wait_for_load_state()
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=sms_code]", last_code("+8613800000001"))
    shot(page, "accounts-unfreeze")
    page.click("form:has(input[name=sms_code]) button[type=submit]")
    page.wait_for_url("**/accounts/security/")
    assert User.objects.get(pk=alice.pk).status == "active"


def test_request_and_cancel_closure(page, live_server, alice, shot):
    from okwallet.accounts.models import User

    log_in(page, live_server.url, "13800000001")
    page.goto(live_server.url + "/accounts/closure/")
    page.check("input[name=confirm]")
    page.click("form:has(input[name=confirm]) button[type=submit]")
    page.wait_for_url("**/accounts/security/verify/**")
    page.click("form:has(input[value=send]) button")
    page.wait_for_load_state()
    page.fill("input[name=code]", last_code("+8613800000001"))
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_url("**/accounts/closure/")
    page.check("input[name=confirm]")
    page.click("form:has(input[name=confirm]) button[type=submit]")
    page.wait_for_load_state()
    assert User.objects.get(pk=alice.pk).status == "closing"
    shot(page, "accounts-closure-pending")
    page.click("form:has(input[value=cancel]) button")
    page.wait_for_load_state()
    assert User.objects.get(pk=alice.pk).status == "active"
    shot(page, "accounts-closure-cancelled")


def test_security_centre_verifier(page, live_server, shot):
    page.goto(live_server.url + "/security-centre/")
    page.fill("input[name=q]", "okwallet-refund.cn")
    page.click("form[role=search] button")
    page.wait_for_url("**/security-centre/verify/**")
    assert page.locator(".verdict .status.bad").is_visible()
    shot(page, "antifraud-verify-fake")
    page.fill("input[name=q]", "400-820-6655")
    page.click("form[role=search] button")
    page.wait_for_load_state()
    assert page.locator(".verdict .status.open").is_visible()
    shot(page, "antifraud-verify-official")


def test_upgrade_from_class_one_to_two(page, live_server, alice, shot):
    """Security → limits → confirm it's you → carrier check, a failed then a passed face check → Class II."""
    from okwallet.accounts.selectors import payment_class_for
    from okwallet.accounts.services import realname_verify

    realname_verify(user=alice, name="王小明", id_number="110101199003071233")
    log_in(page, live_server.url, "13800000001")
    page.goto(live_server.url + "/accounts/realname/")
    page.click("#upgrade-link")
    page.wait_for_url("**/accounts/realname/upgrade/")
    shot(page, "accounts-upgrade-class-one")
    page.click("#upgrade-step-up")
    page.wait_for_url("**/accounts/security/verify/**")
    page.click("form:has(input[value=send]) button")
    page.wait_for_load_state()
    page.fill("input[name=code]", last_code("+8613800000001"))
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_url("**/accounts/realname/upgrade/")
    page.fill("input[name='carrier-id_number']", "110101199003071233")
    page.click("#source-carrier button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#source-carrier .status.open").is_visible()
    assert payment_class_for(alice).code == "I"
    page.fill("input[name='face-id_number']", "110101199003071233")
    page.fill("input[name='face-face_token']", "fail")
    page.click("#source-face button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#source-face .notice.error").is_visible()  # the reason, on the face form
    shot(page, "accounts-upgrade-face-refused")
    assert payment_class_for(alice).code == "I"
    page.fill("input[name='face-id_number']", "110101199003071233")
    page.fill("input[name='face-face_token']", "pass")
    page.click("#source-face button[type=submit]")
    page.wait_for_load_state()
    assert payment_class_for(alice).code == "II"
    assert "II" in page.locator("#cls-h").inner_text()
    assert page.locator("#source-face .status.open").is_visible()
    shot(page, "accounts-upgrade-class-two")


def test_sessions_page_marks_this_device_and_shows_last_activity(page, live_server, alice, shot):
    log_in(page, live_server.url, "13800000001")
    page.goto(live_server.url + "/accounts/security/sessions/")
    current = page.locator("tr[aria-current=true]")
    assert current.count() == 1
    assert current.locator(".status.open").is_visible()
    assert current.locator(".last-active").inner_text().strip() != ""
    shot(page, "accounts-sessions")
