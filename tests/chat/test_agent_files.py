"""Agents send images and PDFs into the chat: same limits and storage as the customer's, shown
to the customer, in the transcript and on the transcript ticket."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile

from okwallet.chat import integrations, services
from okwallet.chat.models import Attachment, Conversation
from tests.chat.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def accepted_chat(alice, agent, chat_open):
    conv, _ = services.conversation_start(customer=alice)
    services.conversation_handoff(conversation_id=conv.pk)
    services.conversation_accept(conversation_id=conv.pk, agent=agent)
    return Conversation.objects.get(pk=conv.pk)


def upload(client, conv, name, content, **extra):
    return client.post(
        f"/chat/{conv.public_id}/attachments/", {"file": SimpleUploadedFile(name, content)}, **extra
    )


def test_the_agent_sends_a_pdf_the_customer_can_open_and_bob_cannot(
    client_for, alice, bob, agent, accepted_chat
):
    resp = upload(client_for(agent), accepted_chat, "费用说明.pdf", PDF)
    assert resp.status_code == 201
    msg = accepted_chat.messages.get(seq=resp.json()["seq"])
    assert msg.sender == "agent" and msg.author == agent and msg.data["kind"] == "attachment"
    att = Attachment.objects.get(message=msg)
    assert att.content_type == "application/pdf" and att.size == len(PDF)
    url = services.message_payload(msg)["attachment"]["url"]
    got = client_for(alice).get(url)
    assert got.status_code == 200 and b"".join(got.streaming_content) == PDF
    assert got["Content-Disposition"].startswith("attachment")  # PDFs download, never render inline
    assert client_for(bob).get(url).status_code == 404


def test_agent_files_have_the_customers_limits(client_for, agent, accepted_chat, settings):
    c = client_for(agent)
    fake = upload(c, accepted_chat, "invoice.pdf", b"MZ\x90\x00 not a pdf")
    assert fake.status_code == 422 and fake.json()["code"] == "attachment_rejected"  # bytes, not the name
    settings.OKWALLET_CHAT_ATTACHMENT_MAX_BYTES = 32
    big = upload(c, accepted_chat, "big.png", PNG)
    assert big.status_code == 422 and big.json()["details"]["max_bytes"] == 32
    assert not Attachment.objects.exists()


def test_only_the_chats_agent_may_send_files(client_for, agent, make_staff, accepted_chat):
    other = make_staff("sun", "agent", "客服 小孙")
    resp = upload(client_for(other), accepted_chat, "a.png", PNG)
    assert resp.status_code == 403 and resp.json()["code"] == "chat_forbidden"
    services.conversation_transfer(conversation_id=accepted_chat.pk, actor=agent, to_agent=other)
    assert upload(client_for(agent), accepted_chat, "a.png", PNG).status_code == 403  # handed over
    assert upload(client_for(other), accepted_chat, "a.png", PNG).status_code == 201


def test_the_console_form_without_javascript_returns_to_the_chat(client_for, agent, accepted_chat):
    page = client_for(agent).get(f"/console/chat/{accepted_chat.public_id}/").content.decode()
    assert 'id="chat-upload"' in page and 'enctype="multipart/form-data"' in page
    resp = upload(client_for(agent), accepted_chat, "a.png", PNG, HTTP_ACCEPT="text/html,*/*")
    assert resp.status_code == 302 and resp["Location"].endswith(f"/console/chat/{accepted_chat.public_id}/")
    assert accepted_chat.messages.filter(data__kind="attachment").count() == 1


def test_agent_files_are_in_the_transcript_and_on_the_ticket(client_for, alice, agent, accepted_chat):
    upload(client_for(alice), accepted_chat, "银行回单.png", PNG)
    upload(client_for(agent), accepted_chat, "fee schedule.pdf", PDF)
    conv = Conversation.objects.get(pk=accepted_chat.pk)
    text = services.transcript_text(conv)
    assert "fee schedule.pdf" in text and "银行回单.png" in text
    services.conversation_end(conversation_id=conv.pk, by="agent", actor=agent, category="deposit")
    conv.refresh_from_db()
    if not integrations.helpdesk_ready():
        return
    from okwallet.helpdesk.models import Attachment as TicketAttachment

    ticket = integrations.ticket_by_number(conv.ticket_number)
    files = TicketAttachment.objects.filter(ticket=ticket).order_by("id")
    assert [(f.filename, f.content_type) for f in files] == [
        ("银行回单.png", "image/png"),
        ("fee schedule.pdf", "application/pdf"),
    ]


def test_the_customer_sees_the_agents_file_live(alice, agent, socket, accepted_chat, client_for):
    desk = client_for(agent)

    async def go():
        c = socket("/ws/chat/", user=alice)
        await c.connect()
        welcome = await c.expect("welcome")
        assert welcome["status"] == "active"
        resp = await sync_to_async(upload)(desk, accepted_chat, "收费标准.pdf", PDF)
        assert resp.status_code == 201
        msg = await c.expect("message", sender="agent")
        assert msg["attachment"]["name"] == "收费标准.pdf"
        assert msg["attachment"]["content_type"] == "application/pdf"
        assert msg["attachment"]["url"].startswith("/chat/attachments/")
        await c.close()

    run_async(go)
