"""A deposit through the sandbox channel from the portal, seen in the records (Chromium)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.payments.conftest import CMB_CARD, XIAOMING, XIUYING, sandbox_process  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def _own_rate_limit_namespace(settings):
    settings.OKWALLET_RATELIMIT_NAMESPACE = f"b{uuid.uuid4().hex[:10]}"


@pytest.fixture
def wired(sandbox_process, live_server, settings):  # noqa: F811
    from okwallet.payments.channels import get_channel

    settings.OKWALLET_PUBLIC_URL = live_server.url
    channel = get_channel("sandbox")
    channel.control(notify="normal", delay_s=0, fail_payouts=False, card_autopay=True, refuse_cards=False)
    return channel


def last_code(target: str) -> str:
    import re

    from okwallet.core.models import Notification

    for _i in range(50):
        note = Notification.objects.filter(to_address=target).order_by("-id").first()
        match = re.search(r"(?<!\d)(\d{6})(?!\d)", note.body) if note else None
        if match:
            return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no code sent to {target}")


def log_in(page, base, identifier):
    page.goto(base + "/accounts/login/")
    page.fill("input[name=identifier]", identifier)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def test_deposit_at_the_sandbox_cashier_arrives_in_the_records(page, live_server, shot, make_customer, wired):
    from okwallet.accounts.services import realname_verify
    from okwallet.payments.models import Transaction

    alice = make_customer("+8613800000001", name="Alice")
    realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    bob = make_customer("+8613800000002", name="Bob")
    realname_verify(user=bob, name="张秀英", id_number=XIUYING)
    page.set_viewport_size({"width": 1200, "height": 900})
    log_in(page, live_server.url, "13800000001")

    # Bind a card first: Luhn, BIN table, holder = real name, then the bank's four-element check
    # (card number, name, ID number typed again, the bank-reserved mobile) through the channel.
    page.goto(live_server.url + "/wallet/cards/")
    assert page.input_value("#reserved_phone") == "13800000001"  # her own number, editable

    def bind(number, reserved_phone=None):
        page.fill("#number", number)
        page.fill("#holder_name", "王小明")
        page.fill("#id_number", XIAOMING)
        if reserved_phone is not None:
            page.fill("#reserved_phone", reserved_phone)
        page.click("form[aria-labelledby=bind] button[type=submit]")
        page.wait_for_load_state()

    bind("6225 8800 0000 1234")  # a typo: fails the check digit
    assert page.locator(".notice.error").count() == 1
    bind("6217 0000 0000 1111")  # the sandbox bank holds this card with 13800138001, not her number
    refusal = page.locator(".notice.error").inner_text()
    assert "银行预留手机号" in refusal or "bank-reserved" in refusal
    shot(page, "payments-cards-phone-mismatch")
    bind(CMB_CARD)
    page.wait_for_selector("text=招商银行 ****1231")
    shot(page, "payments-cards")

    page.goto(live_server.url + "/wallet/deposit/")
    page.fill("#amount", "88.00")
    page.check("input[name=method][value=alipay]")
    shot(page, "payments-deposit-form")
    page.click("main button[type=submit]")
    page.wait_for_selector("#pay")  # the channel's own cashier page, another process
    assert wired.base_url in page.url
    shot(page, "payments-sandbox-cashier")
    page.click("#pay")
    page.wait_for_url(f"{live_server.url}/wallet/records/*/")
    for _ in range(100):  # the signed notification arrives asynchronously
        if Transaction.objects.filter(user=alice, status="succeeded").exists():
            break
        time.sleep(0.1)
    page.reload()
    status = page.locator("[data-testid=status]").inner_text()
    assert status in ("成功", "Succeeded")
    shot(page, "payments-deposit-detail")

    page.goto(live_server.url + "/wallet/records/")
    assert page.locator("table tbody tr").count() == 1
    assert "+¥88.00" in page.locator("table").inner_text()
    shot(page, "payments-records")

    page.goto(live_server.url + "/wallet/")
    assert page.locator("[data-testid=balance]").inner_text() == "¥88.00"
    shot(page, "payments-wallet")

    # Send some to bob: the masked real name is shown before anything moves.
    page.goto(live_server.url + "/wallet/transfer/")
    page.fill("#phone", "138 0000 0002")
    page.fill("#amount", "10")
    page.click("main button[type=submit]")
    assert page.locator("[data-testid=payee]").inner_text().startswith("张*英")
    shot(page, "payments-transfer-confirm")
    page.click("main button[type=submit]")
    # First payment to bob: the security check (an SMS code) comes first, then the transfer again.
    page.wait_for_url("**/accounts/security/verify/**")
    page.click("main form.inline-form button[type=submit]")
    page.wait_for_load_state()
    page.fill("input[name=code]", last_code(alice.phone))
    page.click("main form:not(.inline-form) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/wallet/transfer/")
    page.fill("#phone", "138 0000 0002")
    page.fill("#amount", "10")
    page.click("main button[type=submit]")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/wallet/records/*/")
    page.goto(live_server.url + "/wallet/")
    assert page.locator("[data-testid=balance]").inner_text() == "¥78.00"

    page.goto(live_server.url + "/wallet/deposit-check/")
    page.click("main button[type=submit]")
    page.wait_for_selector("section[role=status]")
    shot(page, "payments-self-check")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/wallet/records/")
    shot(page, "payments-records-mobile")
