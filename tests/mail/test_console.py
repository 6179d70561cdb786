"""Console pages: agents see and act on mail that needs them; customers never do."""

from __future__ import annotations

import pytest
from django.urls import reverse

from okwallet.core.models import AuditLogEntry
from okwallet.mail.ingest import mail_ingest_raw
from okwallet.mail.models import OutboundMessage, RawMessage
from tests.mail.helpers import message

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(settings):
    settings.OKWALLET_MAIL_SENDER_LIMIT = 1
    mail_ingest_raw(raw=message(sender="carol@example.com", body="第一封"), source="smtp")
    return mail_ingest_raw(
        raw=message(sender="carol@example.com", subject="又一封 <b>bold</b>"), source="smtp"
    )


def test_agent_sees_flagged_mail_with_masked_sender(client_for, agent, flagged):
    page = client_for(agent).get(reverse("mail:inbound"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "c***l@example.com" in html
    assert "carol@example.com" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # subjects are escaped, never rendered
    assert "rate limit" in html


def test_customer_cannot_open_the_email_console(client_for, alice, flagged):
    assert client_for(alice).get(reverse("mail:inbound")).status_code == 403
    assert client_for(alice).get(reverse("mail:inbound_raw", args=[flagged.pk])).status_code == 403
    assert client_for(alice).post(reverse("mail:inbound_refile", args=[flagged.pk])).status_code == 403


def test_anonymous_visitor_is_sent_to_login(client, flagged):
    response = client.get(reverse("mail:inbound_detail", args=[flagged.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_agent_files_a_held_message_as_a_ticket_and_it_is_audited(client_for, agent, flagged):
    c = client_for(agent)
    response = c.post(reverse("mail:inbound_refile", args=[flagged.pk]))
    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.status == RawMessage.Status.PROCESSED and flagged.ticket_number
    entry = AuditLogEntry.objects.get(action="mail.message_refiled")
    assert entry.actor == agent and entry.details["was"] == "flagged"


def test_raw_download_is_an_attachment_and_audited(client_for, agent, flagged):
    response = client_for(agent).get(reverse("mail:inbound_raw", args=[flagged.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"
    assert response.content == bytes(RawMessage.objects.get(pk=flagged.pk).raw)
    assert AuditLogEntry.objects.filter(action="mail.raw_downloaded", actor=agent).exists()


def test_detail_page_shows_sanitised_html_in_a_sandbox(client_for, agent):
    from tests.mail.helpers import fixture

    row = mail_ingest_raw(raw=fixture("html_script.eml"), source="smtp")
    html = client_for(agent).get(reverse("mail:inbound_detail", args=[row.pk])).content.decode()
    assert "<script" not in html.split("<body", 1)[1].split("nonce", 1)[0] or "alert(" not in html
    assert "sandbox srcdoc=" in html


def test_outbox_lists_failures_and_retry_requeues(client_for, agent, django_capture_on_commit_callbacks):
    row = OutboundMessage.objects.create(
        kind="reply",
        source_ref="reply:x1",
        message_id="x1@okwallet.example",
        ticket_number="OK261201000001",
        to_addr="carol@example.com",
        from_addr="support@okwallet.example",
        subject="Re: [OK261201000001] 提现",
        body_text="hi",
        status="failed",
        attempts=6,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
    )
    c = client_for(agent)
    page = c.get(reverse("mail:outbox"))
    assert "Connection unexpectedly closed" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(reverse("mail:outbox_retry", args=[row.pk]), {"next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == reverse("mail:outbox")
    row.refresh_from_db()
    assert row.status == "sent"  # the test mail backend accepts it at once


def test_console_home_shows_a_card_when_mail_waits(client_for, agent, flagged):
    html = client_for(agent).get(reverse("console:home")).content.decode()
    assert reverse("mail:inbound") in html
