"""The topic picker and the assistant's topic detection decide the queue a chat waits in."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from hypothesis import given, settings
from hypothesis import strategies as st

from okwallet.chat import services, topics
from okwallet.chat.errors import TopicFixed
from okwallet.chat.models import Conversation, Topic
from okwallet.core.errors import InvalidInput
from tests.chat.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)


# --- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("提现到银行卡一直处理中", "withdrawal"),
        ("充值200元没到账", "deposit"),
        ("My top-up did not arrive", "deposit"),
        ("转账给朋友对方没收到", "transfer"),
        ("忘记支付密码了", "password"),
        ("I can't log in", "password"),
        ("收到陌生登录提醒，不是我本人操作", "security"),
        ("充值的时候被骗了", "security"),  # a scam about a deposit is a security matter
        ("我要投诉你们的客服", "complaint"),
        ("I want to close my account", "account_closure"),
        ("申请注销账户", "account_closure"),
        ("发票怎么开", None),
        ("转人工", None),  # asking for a person names no topic
    ],
)
def test_the_assistant_reads_the_topic_from_the_customers_words(text, topic):
    assert topics.detect(text) == topic


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_detection_never_fails_and_names_a_real_topic_or_nothing(text):
    found = topics.detect(text)
    assert found is None or found in Topic.values


def test_picker_offers_one_choice_per_helpdesk_queue_and_routes_like_the_helpdesk():
    assert [c["code"] for c in topics.choices()] == [
        "payments",
        "security",
        "complaints",
        "account",
        "general",
    ]
    from okwallet.chat import integrations

    if not integrations.helpdesk_ready():
        pytest.skip("helpdesk not installed")
    from okwallet.helpdesk.services import CATEGORY_QUEUE, QUEUES

    assert {c["code"] for c in topics.choices()} == set(QUEUES)
    for topic in Topic.values:
        assert topics.queue_for(topic) == CATEGORY_QUEUE[topic]
        assert topics.FALLBACK_TOPIC_QUEUE[topic] == CATEGORY_QUEUE[topic]  # the fallback agrees


def test_choosing_a_queue_keeps_a_more_precise_topic_already_in_it():
    assert topics.resolve("payments") == ("deposit", "payments")
    assert topics.resolve("payments", current_topic="withdrawal") == ("withdrawal", "payments")
    assert topics.resolve("security", current_topic="withdrawal") == ("security", "security")
    assert topics.resolve("password") == ("password", "security")
    assert topics.resolve("nonsense") is None


# --- services ----------------------------------------------------------------------------------


def test_a_chat_started_from_the_picker_waits_in_that_queue(alice, chat_open):
    conv, _ = services.conversation_start(customer=alice, topic="account")
    assert (conv.topic, conv.queue, conv.topic_source) == ("account_closure", "account", "customer")
    notice = conv.messages.get(data__kind="topic")
    assert (
        notice.sender == "system" and notice.body == "问题类型：注销账户"
    )  # the customer's own words for it
    services.conversation_handoff(conversation_id=conv.pk)
    conv.refresh_from_db()
    assert conv.status == "queued" and conv.queue == "account"


def test_what_the_customer_writes_routes_the_chat_unless_they_chose(alice, bob, chat_open):
    conv, _ = services.conversation_start(customer=alice)
    assert (conv.topic, conv.queue, conv.topic_source) == ("other", "general", "")
    services.message_post(conversation_id=conv.pk, sender="customer", author=alice, body="提现三天了还没到")
    conv.refresh_from_db()
    assert (conv.topic, conv.queue, conv.topic_source) == ("withdrawal", "payments", "bot")
    assert conv.status == "queued"  # the stand-in assistant was unsure and handed off

    chosen, _ = services.conversation_start(customer=bob, topic="general")
    services.message_post(conversation_id=chosen.pk, sender="customer", author=bob, body="充值没到账")
    chosen.refresh_from_db()
    assert (chosen.topic, chosen.queue) == ("other", "general")  # the customer's choice stands


def test_positions_are_counted_per_queue(alice, bob, make_customer, chat_open):
    carol = make_customer()
    a, _ = services.conversation_start(customer=alice, topic="payments")
    b, _ = services.conversation_start(customer=bob, topic="security")
    c, _ = services.conversation_start(customer=carol, topic="payments")
    for conv in (a, b, c):
        services.conversation_handoff(conversation_id=conv.pk)
    from okwallet.chat import selectors

    positions = {
        conv.pk: selectors.queue_estimate(Conversation.objects.get(pk=conv.pk))["position"]
        for conv in (a, b, c)
    }
    assert positions == {a.pk: 1, b.pk: 1, c.pk: 2}


def test_choosing_while_waiting_moves_the_chat_keeping_its_join_time(alice, bob, agent, chat_open):
    first, _ = services.conversation_start(customer=alice, topic="general")
    services.conversation_handoff(conversation_id=first.pk)
    second, _ = services.conversation_start(customer=bob, topic="payments")
    services.conversation_handoff(conversation_id=second.pk)
    joined = Conversation.objects.get(pk=first.pk).queued_at

    services.conversation_topic_set(conversation_id=first.pk, topic="payments")
    moved = Conversation.objects.get(pk=first.pk)
    assert (moved.queue, moved.queued_at) == ("payments", joined)
    from okwallet.chat import selectors

    assert selectors.queue_position(moved) == 0  # joined before bob, so still ahead of him
    notice = moved.messages.filter(data__kind="topic").last()
    assert notice.sender == "system" and not notice.internal and notice.data["queue"] == "payments"
    seq = moved.last_seq
    services.conversation_topic_set(conversation_id=first.pk, topic="payments")
    assert Conversation.objects.get(pk=first.pk).last_seq == seq  # the same choice twice: nothing new

    services.conversation_accept(conversation_id=first.pk, agent=agent)
    with pytest.raises(TopicFixed):
        services.conversation_topic_set(conversation_id=first.pk, topic="security")
    with pytest.raises(InvalidInput):
        services.conversation_topic_set(conversation_id=second.pk, topic="lottery")


def test_the_widget_shows_the_picker_next_to_the_person_button(client):
    html = client.get("/").content.decode()
    assert 'class="okchat-human"' in html  # 转人工 still in the header
    assert 'role="group" aria-labelledby="okchat-topics-label"' in html
    for code in ("payments", "security", "complaints", "account", "general"):
        assert f'data-topic="{code}" aria-pressed="false"' in html
    assert "充值与提现" in html or "Deposits and withdrawals" in html


def test_english_widget_labels_the_topics_in_english(client):
    client.cookies["okw_lang"] = "en"
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "What is it about?" in html and "Deposits and withdrawals" in html


# --- the socket --------------------------------------------------------------------------------


def test_picking_a_topic_over_the_socket_starts_the_chat_in_that_queue(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        welcome = await s.expect("welcome")
        assert [c["code"] for c in welcome["choices"]] == [
            "payments",
            "security",
            "complaints",
            "account",
            "general",
        ]
        assert all(c["label"] for c in welcome["choices"]) and welcome["handoff_available"] is True
        await s.send(type="topic", topic="security")
        await s.expect("started")
        conv = await sync_to_async(Conversation.objects.get)(customer=alice)
        assert (conv.topic, conv.queue, conv.topic_source) == ("security", "security", "customer")
        await s.send(type="topic", topic="payments")
        status = await s.expect("status")
        assert status["queue"] == "payments" and status["status"] == "bot"
        notice = await s.expect("message", sender="system")
        assert notice["data"]["kind"] == "topic"
        await s.send(type="topic", topic=42)
        assert (await s.expect("error"))["code"] == "bad_frame"
        await s.send(type="topic", topic="lottery")
        assert (await s.expect("error"))["code"] == "invalid_input"
        await s.send(type="handoff")
        queued = await s.expect("status", status="queued")
        assert queued["queue"] == "payments"
        await s.close()

    run_async(go)


def test_a_handoff_frame_can_carry_the_topic_chosen_before_the_chat_existed(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.expect("welcome")
        await s.send(type="handoff", topic="complaints")
        await s.expect("status", status="queued")
        await s.close()

    run_async(go)
    conv = Conversation.objects.get(customer=alice)
    assert (conv.topic, conv.queue) == ("complaint", "complaints")
