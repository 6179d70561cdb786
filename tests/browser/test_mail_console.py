"""An agent works the email intake and the outbox in the console (Chinese UI, keyboard, phone)."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, username, password, next_url):
    page.goto(live_server.url + f"/accounts/login/?next={next_url}")
    page.locator("input[name=identifier]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(f"**{next_url}")


@pytest.fixture
def held_mail(settings):
    from okwallet.mail.ingest import mail_ingest_raw
    from okwallet.mail.models import OutboundMessage
    from tests.mail.helpers import fixture, message

    settings.OKWALLET_MAIL_SENDER_LIMIT = 1
    mail_ingest_raw(raw=message(sender="carol@example.com", body="第一封"), source="smtp")
    held = mail_ingest_raw(
        raw=message(sender="carol@example.com", subject="又来一封：提现还没到"), source="smtp"
    )
    mail_ingest_raw(raw=fixture("html_script.eml"), source="smtp")
    OutboundMessage.objects.create(
        kind="reply",
        source_ref="reply:b1",
        message_id="b1@okwallet.example",
        ticket_number=held.ticket_number or "OK261201000001",
        to_addr="carol@example.com",
        from_addr="support@okwallet.example",
        subject="Re: [OK261201000001] 提现还没到",
        body_text="您好",
        status="failed",
        attempts=6,
        last_error="SMTPRecipientsRefused: 550 5.1.1 mailbox unavailable",
    )
    return held


def test_agent_files_held_mail_as_a_ticket(page, live_server, shot, make_staff, password, held_mail):
    make_staff("zhou", "agent", "客服 小周")
    _login(page, live_server, "zhou", password, "/console/mail/")
    assert page.get_by_role("heading", name="邮件收件").is_visible()
    assert "c***l@example.com" in page.content()
    shot(page, "mail-intake-zh")
    page.get_by_role("link", name="又来一封：提现还没到").click()
    page.wait_for_url("**/console/mail/messages/*/")
    assert page.get_by_role("heading", name="又来一封：提现还没到").is_visible()
    shot(page, "mail-message-zh")
    page.get_by_role("button", name="转为工单").click()
    page.wait_for_selector("text=已转为工单")
    shot(page, "mail-message-filed-zh")


def test_outbox_shows_failures_on_a_phone(new_context, live_server, shot, make_staff, password, held_mail):
    make_staff("zhou", "agent", "客服 小周")
    page = new_context(viewport={"width": 375, "height": 740}).new_page()
    _login(page, live_server, "zhou", password, "/console/mail/outbox/")
    assert page.get_by_role("heading", name="邮件发件箱").is_visible()
    assert "550 5.1.1" in page.content()
    shot(page, "mail-outbox-phone-zh")
    page.get_by_role("button", name="重新发送").focus()
    page.keyboard.press("Enter")
    assert page.get_by_text("已重新排队").is_visible() or page.wait_for_selector("text=已重新排队")
