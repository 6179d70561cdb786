"""A senior manager refunds a mistaken transfer from the console, in part, keyboard first; a
supervisor approves one above the four-eyes threshold; an agent resolves a reconciliation item.
Screenshots of every page on the way (Chinese UI)."""

import re

import pytest

from tests.payments.conftest import XIAOMING, XIUYING

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, identifier, password, next_url):
    page.goto(live_server.url + f"/accounts/login/?next={next_url}")
    page.locator("input[name=identifier]").fill(identifier)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(f"**{next_url}")


@pytest.fixture
def mistaken_transfer(alice, bob):
    """alice had ¥100 and sent ¥80 to bob by mistake."""
    from okwallet.accounts.services import realname_verify
    from okwallet.payments import services
    from okwallet.payments.models import Transaction

    realname_verify(user=alice, name="王小明", id_number=XIAOMING)
    realname_verify(user=bob, name="张秀英", id_number=XIUYING)
    services.wallet_ensure(user=alice)
    ref = services.new_reference()
    Transaction.objects.create(
        reference=ref,
        user=alice,
        kind="deposit",
        amount_fen=10_000,
        method="alipay",
        channel="sandbox",
        ledger_key=f"dep:{ref}",
    )
    services.deposit_settle(reference=ref, amount_fen=10_000, channel_ref=f"42TEST{ref}", source="test")
    return services.p2p_transfer_create(payer=alice, payee_id=bob.pk, amount_fen=8_000)


def test_refund_a_mistaken_transfer_in_part_then_the_rest_with_approval(
    new_context, live_server, alice, bob, manager, supervisor, password, mistaken_transfer, shot, settings
):
    from okwallet.payments.selectors import wallet_summary

    settings.OKWALLET_REVERSAL_APPROVAL_FEN = 5_000  # ¥50: the second refund needs a supervisor
    ref = mistaken_transfer.reference
    staff = new_context().new_page()
    _login(staff, live_server, "chen", password, f"/console/transactions/{ref}/")
    assert "¥80.00" in staff.locator("h1").inner_text()
    shot(staff, "payments-console-transaction")
    staff.keyboard.press("e")  # the amount field's shortcut
    staff.keyboard.press("Control+A")
    staff.keyboard.type("30")
    staff.get_by_label("原因").select_option("mistaken_transfer")
    staff.get_by_label("情况说明（记入审计日志）").fill("客户来电：转错账户，收款人同意退回")
    staff.get_by_role("button", name="退款").click()
    staff.wait_for_url(re.compile(rf".*/console/transactions/{ref}/.*"))
    table = staff.locator("section[aria-labelledby=txn-reversals] table")
    assert "¥30.00" in table.inner_text() and "已完成" in table.inner_text()
    assert wallet_summary(alice)["available_fen"] == 2_000 + 3_000
    assert wallet_summary(bob)["available_fen"] == 8_000 - 3_000
    shot(staff, "payments-console-refunded")

    # The rest (¥50) brings the total to ¥80 ≥ ¥50: it waits for another person's approval.
    staff.get_by_label("金额（元）").fill("50")
    staff.get_by_label("情况说明（记入审计日志）").fill("剩余部分一并退回")
    staff.get_by_role("button", name="退款").click()
    staff.wait_for_url(re.compile(rf".*/console/transactions/{ref}/.*"))
    assert "待审批" in staff.locator("section[aria-labelledby=txn-reversals] table").inner_text()
    assert wallet_summary(alice)["available_fen"] == 5_000  # nothing moved yet

    boss = new_context().new_page()
    _login(boss, live_server, "zhao", password, "/console/reconciliation/")
    waiting = boss.locator("section[aria-labelledby=waiting-h]")
    assert "¥50.00" in waiting.inner_text()
    waiting.get_by_role("link").first.click()
    boss.wait_for_url(re.compile(rf".*/console/transactions/{ref}/"))
    boss.get_by_role("button", name="批准并划转资金").click()
    boss.wait_for_url(re.compile(rf".*/console/transactions/{ref}/.*"))
    assert wallet_summary(alice)["available_fen"] == 10_000
    assert wallet_summary(bob)["available_fen"] == 0
    shot(boss, "payments-console-approved")


def test_an_agent_marks_a_reconciliation_item_as_a_channel_error(
    new_context, live_server, agent, password, shot
):
    from datetime import date

    from okwallet.payments.models import ReconciliationMismatch, ReconciliationRun

    run = ReconciliationRun.objects.create(channel="sandbox", statement_date=date(2026, 11, 30), mismatches=1)
    item = ReconciliationMismatch.objects.create(
        run=run, kind="missing_ours", reference="T-THEIRS-ONLY", channel_ref="42X1", theirs_fen=1_500
    )
    page = new_context().new_page()
    _login(page, live_server, agent.username, password, "/console/reconciliation/")
    shot(page, "payments-console-reconciliation")
    page.keyboard.press("/")
    page.keyboard.type("T-THEIRS-ONLY")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="T-THEIRS-ONLY").click()
    page.wait_for_url(re.compile(rf".*/console/reconciliation/{item.pk}/"))
    shot(page, "payments-console-mismatch")
    page.get_by_label("渠道确认的情况").fill("渠道重复推送，已与渠道确认")
    page.get_by_role("button", name="标记为渠道差错").click()
    page.wait_for_load_state()
    item.refresh_from_db()
    assert (item.status, item.resolution) == ("resolved", "channel_error")
    shot(page, "payments-console-mismatch-resolved")
