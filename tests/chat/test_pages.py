"""Console and customer pages: render, permissions, accept / transfer / end with a transcript ticket."""

from __future__ import annotations

import pytest

from okwallet.chat import integrations, services
from okwallet.chat.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued_chat(alice, chat_open):
    conv, _ = services.conversation_start(customer=alice)
    services.message_post(
        conversation_id=conv.pk, sender="customer", author=alice, body="<script>alert(1)</script>充值没到账"
    )
    conv.refresh_from_db()
    if conv.status != Conversation.Status.QUEUED:
        services.conversation_handoff(conversation_id=conv.pk)
    conv.refresh_from_db()
    return conv


def test_every_portal_page_carries_the_chat_widget_with_the_person_button(client):
    html = client.get("/").content.decode()
    assert 'id="okchat"' in html and "chat/widget.js" in html
    assert "okchat-human" in html  # 转人工 in the header, visible before any bot turn


def test_embeddable_chat_page_renders_full_screen(client):
    resp = client.get("/chat/")
    assert resp.status_code == 200
    assert "okchat-embedded" in resp.content.decode()


def test_console_lists_waiting_chat_and_escapes_customer_text(client_for, agent, queued_chat):
    c = client_for(agent)
    page = c.get("/console/chat/").content.decode()
    assert queued_chat.public_id in page
    detail = c.get(f"/console/chat/{queued_chat.public_id}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert(1)" not in detail
    assert "138****0001" in detail  # phone masked


def test_customers_cannot_open_console_chat_pages(client_for, alice, bob, queued_chat):
    resp = client_for(bob).get(f"/console/chat/{queued_chat.public_id}/")
    assert resp.status_code == 403


def test_accept_respects_the_agent_concurrency_limit(client_for, agent, make_customer, chat_open, settings):
    settings.OKWALLET_CHAT_DEFAULT_CAPACITY = 1
    convs = []
    for i in range(2):
        customer = make_customer()
        conv, _ = services.conversation_start(customer=customer)
        services.conversation_handoff(conversation_id=conv.pk)
        convs.append(conv)
    c = client_for(agent)
    c.post(f"/console/chat/{convs[0].public_id}/accept/")
    resp = c.post(f"/console/chat/{convs[1].public_id}/accept/", follow=True)
    assert "as many chats as you can take" in resp.content.decode() or "已达" in resp.content.decode()
    statuses = sorted(
        Conversation.objects.filter(pk__in=[x.pk for x in convs]).values_list("status", flat=True)
    )
    assert statuses == ["active", "queued"]


def test_end_files_the_transcript_on_a_new_ticket_with_its_category(client_for, agent, queued_chat):
    c = client_for(agent)
    c.post(f"/console/chat/{queued_chat.public_id}/accept/")
    services.message_post(conversation_id=queued_chat.pk, sender="agent", author=agent, body="我来帮您查询")
    resp = c.post(f"/console/chat/{queued_chat.public_id}/end/", {"category": "deposit"})
    assert resp.status_code == 302
    conv = Conversation.objects.get(pk=queued_chat.pk)
    assert conv.status == "ended" and conv.category == "deposit"
    if integrations.helpdesk_ready():
        ticket = integrations.ticket_by_number(conv.ticket_number)
        assert ticket is not None and ticket.channel == "chat" and ticket.category == "deposit"
        assert ticket.customer_id == conv.customer_id
        from okwallet.helpdesk.models import TicketMessage

        bodies = " ".join(TicketMessage.objects.filter(ticket=ticket).values_list("body", flat=True))
        assert "我来帮您查询" in bodies and "充值没到账" in bodies


def test_transfer_to_a_queue_keeps_the_note_internal(client_for, agent, queued_chat):
    c = client_for(agent)
    c.post(f"/console/chat/{queued_chat.public_id}/accept/")
    c.post(
        f"/console/chat/{queued_chat.public_id}/transfer/",
        {"to_topic": "security", "note": "疑似被骗，请安全组处理"},
    )
    conv = Conversation.objects.get(pk=queued_chat.pk)
    assert conv.status == "queued" and conv.topic == "security" and conv.agent is None
    note = conv.messages.get(data__kind="transfer_note")
    assert note.internal and "疑似被骗" in note.body
    assert "疑似被骗" not in services.transcript_text(conv)  # customer transcript never shows it


def test_supervisor_sees_the_monitor_and_joins_silently(client_for, supervisor, agent, queued_chat):
    client_for(agent).post(f"/console/chat/{queued_chat.public_id}/accept/")
    c = client_for(supervisor)
    page = c.get("/console/chat/live/")
    assert page.status_code == 200 and "loads-chart" in page.content.decode()
    before = Conversation.objects.get(pk=queued_chat.pk).last_seq
    c.post(f"/console/chat/{queued_chat.public_id}/join/", {"silent": "1"})
    assert Conversation.objects.get(pk=queued_chat.pk).last_seq == before  # the customer is not told
    assert queued_chat.participants.filter(user=supervisor, silent=True).exists()


def test_agents_cannot_open_the_supervisor_monitor(client_for, agent):
    assert client_for(agent).get("/console/chat/live/").status_code == 403


def test_transcript_email_goes_to_the_customer(alice, queued_chat):
    from okwallet.core.models import Notification

    services.conversation_end(conversation_id=queued_chat.pk, by="customer")
    services.transcript_email(conversation_id=queued_chat.pk)
    note = Notification.objects.get(kind="chat_transcript")
    assert note.to_address == "alice@example.com" and "充值没到账" in note.body


def test_attachment_upload_checks_type_and_size_and_owner(client_for, alice, bob, queued_chat, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    c = client_for(alice)
    ok = c.post(f"/chat/{queued_chat.public_id}/attachments/", {"file": SimpleUploadedFile("a.png", png)})
    assert ok.status_code == 201
    exe = c.post(
        f"/chat/{queued_chat.public_id}/attachments/", {"file": SimpleUploadedFile("a.png", b"MZ\x90")}
    )
    assert exe.status_code == 422 and exe.json()["code"] == "attachment_rejected"
    settings.OKWALLET_CHAT_ATTACHMENT_MAX_BYTES = 50
    big = c.post(f"/chat/{queued_chat.public_id}/attachments/", {"file": SimpleUploadedFile("b.png", png)})
    assert big.status_code == 422
    other = client_for(bob).post(
        f"/chat/{queued_chat.public_id}/attachments/", {"file": SimpleUploadedFile("a.png", png)}
    )
    assert other.status_code == 404
    msg = queued_chat.messages.get(data__kind="attachment")
    url = services.message_payload(msg)["attachment"]["url"]
    assert c.get(url).status_code == 200
    assert client_for(bob).get(url).status_code == 404


def test_hooks_offer_contacts_and_panels(alice, agent, queued_chat, rf):
    from okwallet.chat import hooks

    contacts = hooks.customer_360_contacts(alice)
    assert contacts and contacts[0]["kind"] == "chat"
    panels = hooks.dashboard_panels(agent)
    assert panels[0]["title"] and "1" in panels[0]["html"]


def test_public_ticket_reply_is_posted_into_the_customers_live_chat(alice, agent, queued_chat):
    if not integrations.helpdesk_ready():
        pytest.skip("helpdesk not installed")
    from okwallet.helpdesk.services import ticket_add_message, ticket_create

    ticket = ticket_create(
        channel="web", category="deposit", subject="充值未到账", body="昨天充值100元", customer=alice
    )
    ticket_add_message(ticket=ticket, body="已为您补入账，请查收。", author=agent, public=True)
    msg = queued_chat.messages.filter(sender="system", body__contains="已为您补入账").first()
    assert msg is not None and ticket.number in msg.body
