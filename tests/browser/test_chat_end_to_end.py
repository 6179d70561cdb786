"""Customer and agent in two browsers: bot answer, handoff, live chat, end → transcript ticket."""

from __future__ import annotations

import re

import pytest

from tests.chat.conftest import session_cookie
from tests.chat.servers import Server, chat_always_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(tmp_path):
    chat_always_open()
    try:
        from okwallet.kb.loader import load_articles
        from okwallet.kb.models import Article

        if not Article.objects.exists():  # earlier transactional tests flush the shipped articles
            load_articles()
    except ImportError:
        pass
    srv = Server(var_dir=str(tmp_path)).start()
    yield srv
    srv.stop()


def logged_in(new_context, server, user):
    ctx = new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(40_000)  # the machine is shared: give each step room
    ctx.add_cookies([{"name": "sessionid", "value": session_cookie(user), "url": server.url}])
    return ctx


def test_customer_and_agent_chat_from_bot_answer_to_transcript_ticket(
    new_context, server, alice, agent, shot
):
    from okwallet.chat import integrations
    from okwallet.chat.models import Conversation

    customer = logged_in(new_context, server, alice).new_page()
    customer.goto(server.url + "/")
    customer.click(".okchat-launcher")
    human = customer.locator(".okchat-head .okchat-human")
    assert human.is_visible()  # 转人工 on the first screen, before any bot turn
    customer.fill("#okchat-input", "忘记密码怎么办")
    customer.keyboard.press("Enter")
    answer = customer.locator(".okchat-msg.bot").filter(has_text="忘记密码")
    answer.first.wait_for(timeout=60_000)  # the help centre builds its index on its first question
    assert customer.locator(".okchat-msg.bot button[data-action=feedback]").count() >= 2
    shot(customer, "chat-customer-bot-answer")

    human.click()
    customer.locator(".okchat-status").filter(has_text=re.compile("1")).wait_for()
    shot(customer, "chat-customer-queued")

    conv = Conversation.objects.get(customer=alice)
    desk = logged_in(new_context, server, agent).new_page()
    desk.goto(server.url + "/console/chat/")
    shot(desk, "chat-console-queue")
    desk.click(f"form[action$='/{conv.public_id}/accept/'] button")
    desk.wait_for_url(re.compile(f"/console/chat/{conv.public_id}/"))
    customer.locator(".okchat-status").filter(has_text="客服 小周").wait_for()

    desk.fill("#chat-input", "您好，我是小周。请问是在登录页找不到“忘记密码”吗？")
    desk.keyboard.press("Enter")
    customer.locator(".okchat-msg.agent").filter(has_text="我是小周").wait_for()
    customer.fill("#okchat-input", "<b>是的</b>，谢谢")
    customer.keyboard.press("Enter")
    live = desk.locator("#chat-log .okchat-msg.customer").filter(has_text="<b>是的</b>，谢谢")
    live.wait_for()  # shown as text
    # A message that arrived live is labelled and timed as the server renders it after a reload
    # (the sender's name, the service's time zone: this browser runs in UTC).
    seq = live.get_attribute("data-seq")
    live_who = live.locator(".who").inner_text()
    desk.reload()
    assert desk.locator(f"#chat-log [data-seq='{seq}'] .who").inner_text() == live_who
    shot(customer, "chat-customer-with-agent")
    shot(desk, "chat-console-conversation")

    desk.select_option("#category", "password")
    desk.click("form[action$='/end/'] button[type=submit]")
    desk.locator(".notice").first.wait_for()
    shot(desk, "chat-console-ended")
    customer.locator(".okchat-end").wait_for()
    shot(customer, "chat-customer-ended")

    conv.refresh_from_db()
    assert conv.status == "ended" and conv.category == "password"
    if integrations.helpdesk_ready():
        ticket = integrations.ticket_by_number(conv.ticket_number)
        assert ticket is not None and ticket.category == "password" and ticket.customer_id == alice.pk
        assert conv.ticket_number in desk.content()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_topic_choice_auto_assignment_and_an_agent_file(new_context, server, alice, agent, shot):
    """The customer picks a topic with the keyboard, an available agent is given the chat
    without pressing anything, sends a PDF the customer opens, and the ticket keeps the file."""
    from okwallet.chat import integrations
    from okwallet.chat.models import Conversation

    desk = logged_in(new_context, server, agent).new_page()
    desk.goto(server.url + "/console/chat/")
    desk.click("form[action$='/availability/'] button[type=submit]")
    desk.locator("#chat-availability.open").wait_for()
    shot(desk, "chat-console-available")

    customer = logged_in(new_context, server, alice).new_page()
    customer.goto(server.url + "/")
    customer.click(".okchat-launcher")
    human = customer.locator(".okchat-head .okchat-human")
    payments = customer.locator(".okchat-topics button[data-topic=payments]")
    assert human.is_visible() and payments.is_visible()  # the picker does not hide 转人工
    payments.focus()
    customer.keyboard.press("Enter")
    assert payments.get_attribute("aria-pressed") == "true"
    customer.locator(".okchat-msg.system").filter(has_text=re.compile("充值与提现|Deposits")).wait_for()
    shot(customer, "chat-customer-topic")

    human.focus()
    customer.keyboard.press("Enter")
    desk.wait_for_url(re.compile(r"/console/chat/[0-9a-f]{20}/"))  # given to the agent, opened for them
    customer.locator(".okchat-status").filter(has_text="客服 小周").wait_for()
    conv = Conversation.objects.get(customer=alice)
    assert conv.queue == "payments" and conv.agent_id == agent.pk
    assert conv.messages.get(data__kind="accepted").data["how"] == "auto"

    desk.set_input_files(
        "#chat-file", files=[{"name": "收费标准.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    desk.click("#chat-upload button[type=submit]")
    link = customer.locator(".okchat-msg.agent a").filter(has_text="收费标准.pdf")
    link.wait_for()
    desk.locator("#chat-log a").filter(has_text="收费标准.pdf").wait_for()
    shot(customer, "chat-customer-agent-file")
    got = customer.request.get(server.url + link.get_attribute("href"))
    assert got.status == 200 and got.body() == PDF

    desk.click("form[action$='/end/'] button[type=submit]")
    desk.locator(".notice").first.wait_for()
    conv.refresh_from_db()
    assert conv.status == "ended" and conv.category == "deposit"
    if integrations.helpdesk_ready():
        from okwallet.helpdesk.models import Attachment

        ticket = integrations.ticket_by_number(conv.ticket_number)
        assert list(Attachment.objects.filter(ticket=ticket).values_list("filename", flat=True)) == [
            "收费标准.pdf"
        ]


# The page's WebSocket opens 1.5 s late (a slow mobile network): the customer's clicks in that
# time must not be lost. Injected by the browser's init-script hook, which the page's CSP allows.
SLOW_SOCKET = """
(() => {
  const Real = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const fake = { readyState: 0, send() { throw new Error("not open yet"); }, close() {} };
    setTimeout(() => {
      const real = new Real(url, protocols);
      real.onopen = (e) => {
        fake.readyState = 1;
        fake.send = (data) => real.send(data);
        fake.close = (...args) => real.close(...args);
        if (fake.onopen) fake.onopen(e);
      };
      real.onmessage = (e) => { if (fake.onmessage) fake.onmessage(e); };
      real.onclose = (e) => { fake.readyState = 3; if (fake.onclose) fake.onclose(e); };
    }, 1500);
    return fake;
  };
})();
"""


def test_a_topic_and_talk_to_a_person_chosen_while_the_socket_connects_are_not_lost(
    new_context, server, alice
):
    from okwallet.chat.models import Conversation

    ctx = logged_in(new_context, server, alice)
    ctx.add_init_script(SLOW_SOCKET)
    customer = ctx.new_page()
    customer.goto(server.url + "/")
    customer.click(".okchat-launcher")
    customer.locator(".okchat-topics button[data-topic=payments]").click()
    customer.locator(".okchat-head .okchat-human").click()
    customer.locator(".okchat-msg.system").filter(has_text=re.compile("充值与提现|Deposits")).wait_for()
    customer.locator(".okchat-status").filter(has_text=re.compile("第 ?1 ?位|number 1 in")).wait_for()
    conv = Conversation.objects.get(customer=alice)
    assert conv.queue == "payments" and conv.status == "queued"
