"""Customer and agent sockets through the real ASGI stack (Channels' communicator, real database)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from okwallet.chat.consumers import CLOSE_FLOOD, CLOSE_FORBIDDEN, CLOSE_NOT_AUTHENTICATED, CLOSE_NOT_FOUND
from okwallet.chat.integrations import BotReply
from okwallet.chat.models import Conversation, Message
from tests.chat.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro_fn):
    return run_async(coro_fn)


def test_customer_gets_bot_answer_with_helpful_and_handoff_buttons(alice, socket, bot_answers, chat_open):
    bot_answers["充值"] = BotReply(
        answer="银行卡充值一般几分钟到账。",
        title="充值多久到账",
        url="/help/deposit-time/",
        slug="deposit-time",
        confidence=0.9,
        confident=True,
    )

    async def go():
        s = socket("/ws/chat/", user=alice)
        assert (await s.connect())[0]
        welcome = await s.expect("welcome")
        assert welcome["authenticated"] is True and welcome["handoff_available"] is True
        await s.send(type="message", text="充值多久到账？", client_id="c1")
        greeting = await s.expect("message", sender="bot")
        assert greeting["data"]["buttons"] == ["handoff"]  # 转人工 visible from the first screen
        mine = await s.expect("message", sender="customer")
        assert mine["text"] == "充值多久到账？" and mine["client_id"] == "c1"
        assert mine["ack"] is True and mine["duplicate"] is False  # the copy is the ack
        answer = await s.expect("message", sender="bot")
        assert answer["text"] == "银行卡充值一般几分钟到账。"
        assert answer["data"]["buttons"] == ["helpful", "not_helpful", "handoff"]
        assert answer["seq"] == mine["seq"] + 1 and "ack" not in answer
        await s.send(type="feedback", seq=answer["seq"], helpful=True)
        await s.expect("feedback_saved")
        await s.close()

    run(go)
    conv = Conversation.objects.get(customer=alice)
    assert conv.status == Conversation.Status.BOT
    assert list(conv.messages.values_list("seq", flat=True)) == [1, 2, 3]
    assert conv.messages.get(seq=3).data["helpful"] is True


def test_unsure_bot_hands_off_to_a_queue_with_position_and_wait(alice, socket, bot_answers, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.expect("welcome")
        await s.send(type="message", text="我的账户被冻结了怎么办", client_id="x")
        unsure = await s.expect("message", sender="bot", timeout=3)
        while unsure["data"].get("kind") != "unsure":
            unsure = await s.expect("message", sender="bot")
        status = await s.expect("status")
        assert status["status"] == "queued"
        queue = await s.expect("queue")
        assert queue["position"] == 1 and queue["ahead"] == 0
        await s.close()

    run(go)
    assert Conversation.objects.get(customer=alice).status == Conversation.Status.QUEUED


def test_asking_for_a_person_skips_the_bot(alice, socket, bot_answers, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.expect("welcome")
        await s.send(type="message", text="转人工")
        queued = await s.expect("status")
        assert queued["status"] == "queued"
        await s.close()

    run(go)
    conv = Conversation.objects.get(customer=alice)
    assert not conv.messages.filter(sender="bot", data__kind="bot_answer").exists()


def test_customer_aged_60_goes_straight_to_a_person_with_priority(alice, bob, socket, chat_open, monkeypatch):
    from okwallet.chat import integrations

    monkeypatch.setattr(integrations, "customer_age", lambda user: 67 if user.pk == alice.pk else 30)

    async def go():
        b = socket("/ws/chat/", user=bob)
        await b.connect()
        await b.send(type="handoff")
        await b.expect("status", status="queued")
        a = socket("/ws/chat/", user=alice)
        await a.connect()
        await a.send(type="start", topic="other")
        await a.expect("status", status="queued")
        q = await a.expect("queue")
        assert q["position"] == 1  # ahead of bob, who came first
        qb = await b.expect("queue", position=2)
        assert qb["ahead"] == 1
        await a.close()
        await b.close()

    run(go)
    conv = Conversation.objects.get(customer=alice)
    assert conv.priority == 10 and conv.priority_reason == "aged_60_plus"
    assert not conv.messages.filter(sender="bot").exists()


def test_agent_accepts_and_messages_typing_and_read_receipts_flow_both_ways(alice, agent, socket, chat_open):
    async def go():
        c = socket("/ws/chat/", user=alice)
        await c.connect()
        await c.send(type="handoff")
        await c.expect("status", status="queued")
        conv = await sync_to_async(Conversation.objects.get)(customer=alice)

        a = socket("/ws/chat/agent/", user=agent)
        assert (await a.connect())[0]
        await a.expect("welcome")
        from okwallet.chat.services import conversation_accept

        await sync_to_async(conversation_accept)(conversation_id=conv.pk, agent=agent)
        await a.send(type="watch", conversation=conv.public_id)
        await a.expect("watching")
        status = await c.expect("status", status="active")
        assert status["agent"] == "客服 小周"

        await c.send(type="typing", on=True)
        typing = await a.expect("typing")
        assert typing["role"] == "customer" and typing["on"] is True
        await c.send(type="message", text="<b>hi</b>", client_id="m1")
        got = await a.expect("message", sender="customer")
        assert got["text"] == "<b>hi</b>"  # plain text; clients insert it as text, never as HTML
        await a.send(type="typing", conversation=conv.public_id, on=True)
        assert (await c.expect("typing"))["role"] == "agent"
        await a.send(
            type="message", conversation=conv.public_id, text="您好，请问有什么可以帮您？", client_id="a1"
        )
        reply = await c.expect("message", sender="agent")
        assert reply["author"] == "客服 小周"
        await c.send(type="read", seq=reply["seq"])
        receipt = await a.expect("read")
        assert receipt == {
            "type": "read",
            "role": "customer",
            "seq": reply["seq"],
            "conversation": conv.public_id,
        }
        await a.send(type="message", conversation=conv.public_id, text="内部备注", internal=True)
        await a.expect("ack")
        leaked = [f for f in await c.drain() if f.get("text") == "内部备注" or f.get("internal")]
        assert leaked == []  # internal notes never reach the customer
        await c.close()
        await a.close()

    run(go)


def test_reconnect_with_last_seq_replays_only_what_was_missed(alice, agent, socket, chat_open):
    from okwallet.chat import services

    async def go():
        c = socket("/ws/chat/", user=alice)
        await c.connect()
        await c.send(type="handoff")
        await c.expect("status", status="queued")
        await c.close()
        conv = await sync_to_async(Conversation.objects.get)(customer=alice)
        seen = conv.last_seq
        await sync_to_async(services.conversation_accept)(conversation_id=conv.pk, agent=agent)
        for i in range(3):
            await sync_to_async(services.message_post)(
                conversation_id=conv.pk, sender="agent", author=agent, body=f"消息{i}"
            )
        c2 = socket(f"/ws/chat/?last_seq={seen}", user=alice)
        await c2.connect()
        welcome = await c2.expect("welcome")
        assert welcome["conversation"] == conv.public_id
        frames = [await c2.expect("message") for _ in range(4)]
        assert [f["seq"] for f in frames] == list(range(seen + 1, seen + 5))
        assert [f["text"] for f in frames[1:]] == ["消息0", "消息1", "消息2"]
        assert await c2.nothing(0.2)
        await c2.close()

    run(go)


def test_resent_frame_with_same_client_id_is_stored_once(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.send(type="handoff")
        await s.expect("status", status="queued")
        await s.send(type="message", text="第一次", client_id="same")
        first = await s.expect("ack")
        await s.send(type="message", text="第一次", client_id="same")
        second = await s.expect("ack")
        assert first["seq"] == second["seq"] and second["duplicate"] is True
        await s.close()

    run(go)
    assert Message.objects.filter(client_id="same").count() == 1


def test_customer_can_never_join_another_customers_conversation(alice, bob, socket, chat_open):
    async def go():
        a = socket("/ws/chat/", user=alice)
        await a.connect()
        await a.send(type="message", text="我的私事")
        await a.expect("ack")
        await a.close()
        conv = await sync_to_async(Conversation.objects.get)(customer=alice)
        b = socket(f"/ws/chat/?conversation={conv.public_id}", user=bob)
        await b.connect()
        err = await b.expect("error")
        assert err["code"] == "chat_not_found"
        assert await b.closed_with() == CLOSE_NOT_FOUND
        # an anonymous visitor cannot either, even with a visitor key
        v = socket(f"/ws/chat/?conversation={conv.public_id}&visitor=abcdefghijklmnopqrstuvwx")
        await v.connect()
        assert (await v.expect("error"))["code"] == "chat_not_found"
        # and bob's own socket never sees alice's messages
        b2 = socket("/ws/chat/", user=bob)
        await b2.connect()
        welcome = await b2.expect("welcome")
        assert welcome["conversation"] is None
        assert await b2.nothing(0.2)

    run(go)


def test_anonymous_visitor_chats_with_a_key_and_without_one_is_refused(visitor_key, socket, chat_open):
    async def go():
        v = socket(f"/ws/chat/?visitor={visitor_key}")
        assert (await v.connect())[0]
        welcome = await v.expect("welcome")
        assert welcome["authenticated"] is False
        await v.send(type="message", text="你们的客服电话是多少")
        greeting = await v.expect("message", sender="bot")
        assert "log in" in greeting["text"].lower() or "登录" in greeting["text"]
        await v.close()
        again = socket(f"/ws/chat/?visitor={visitor_key}")
        await again.connect()
        assert (await again.expect("welcome"))["conversation"] is not None

    run(go)
    conv = Conversation.objects.get()
    assert conv.customer is None and conv.visitor_hash and visitor_key not in conv.visitor_hash


def test_socket_without_session_or_visitor_key_is_closed_4401(socket):
    async def go():
        s = socket("/ws/chat/")
        connected, code = await s.connect()
        assert not connected and code == CLOSE_NOT_AUTHENTICATED

    run(go)


def test_app_token_authenticates_by_subprotocol_and_header(alice, api_token_for, socket, chat_open):
    key = api_token_for(alice)

    async def go():
        s = socket("/ws/chat/", subprotocols=["okwallet.chat.v1", f"okwallet.token.{key}"])
        assert (await s.connect())[0]
        assert (await s.expect("welcome"))["authenticated"] is True
        await s.close()
        h = socket("/ws/chat/", headers=[(b"authorization", f"Bearer {key}".encode())])
        assert (await h.connect())[0]
        assert (await h.expect("welcome"))["authenticated"] is True
        await h.close()
        bad = socket("/ws/chat/", headers=[(b"authorization", b"Bearer nope")])
        connected, code = await bad.connect()
        assert not connected and code == CLOSE_NOT_AUTHENTICATED

    run(go)


def test_agent_socket_refuses_customers_and_anonymous(alice, socket):
    async def go():
        s = socket("/ws/chat/agent/", user=alice)
        connected, code = await s.connect()
        assert not connected and code == CLOSE_FORBIDDEN
        s = socket("/ws/chat/agent/")
        connected, code = await s.connect()
        assert not connected and code == CLOSE_NOT_AUTHENTICATED

    run(go)


def test_bad_frames_get_clear_errors_and_the_connection_stays_healthy(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.expect("welcome")
        await s.send_raw(text="{not json")
        assert (await s.expect("error"))["code"] == "bad_frame"
        await s.send_raw(text="[1,2]")
        assert (await s.expect("error"))["code"] == "bad_frame"
        await s.send_raw(data=b"\x00\x01")
        assert (await s.expect("error"))["code"] == "bad_frame"
        await s.send(type="launch_missiles", ref="r1")
        err = await s.expect("error")
        assert err["code"] == "unknown_type" and err["ref"] == "r1"
        await s.send(type="message", text="x" * 2001)
        assert (await s.expect("error"))["code"] == "message_too_long"
        await s.send(type="message", text="y" * 20000)
        assert (await s.expect("error"))["code"] == "frame_too_large"
        await s.send(type="message", text="   ")
        assert (await s.expect("error"))["code"] == "message_empty"
        await s.send(type="message", text=123)
        assert (await s.expect("error"))["code"] == "bad_frame"
        await s.send(type="ping", ref="p")
        assert (await s.expect("pong"))["ref"] == "p"
        await s.close()

    run(go)
    assert not Message.objects.filter(sender="customer").exists()


def test_each_socket_answers_in_its_own_language_frame_after_frame(alice, bob, socket, chat_open):
    """The frame worker activates the socket's language once; two sockets of different languages
    on one event loop never see each other's (and every frame, not just the first, is in it)."""

    async def go():
        zh = socket("/ws/chat/", user=alice)
        en = socket("/ws/chat/?lang=en", user=bob)
        await zh.connect()
        await en.connect()
        await zh.expect("welcome")
        await en.expect("welcome")
        texts = {"zh": [], "en": []}
        for _ in range(3):
            await zh.send(type="message", text="   ")
            await en.send(type="message", text="   ")
            texts["zh"].append((await zh.expect("error"))["message"])
            texts["en"].append((await en.expect("error"))["message"])
        await zh.close()
        await en.close()
        return texts

    texts = run(go)
    assert len(set(texts["zh"])) == 1 and len(set(texts["en"])) == 1
    assert texts["zh"][0] != texts["en"][0]
    assert texts["en"][0].isascii() and not texts["zh"][0].isascii()


def test_a_flood_is_rate_limited_then_closed_4429(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.send(type="handoff")
        await s.expect("status", status="queued")
        for i in range(12):
            await s.send(type="message", text=f"m{i}", client_id=f"f{i}")
        acks = [await s.expect("ack") for _ in range(10)]
        limited = await s.expect("error")
        assert limited["code"] == "rate_limited" and limited["details"]["retry_after_seconds"] > 0
        assert len(acks) == 10
        for _ in range(40):
            await s.send_raw(text="garbage")
        assert await s.closed_with() == CLOSE_FLOOD
        # the garbage still queued behind the close is dropped: a send after websocket.close
        # is an error in a real server (uvicorn raises and the frame worker dies unretrieved)
        assert await s.comm.receive_nothing(timeout=0.3)

    run(go)


def test_messages_after_the_chat_ended_are_refused_and_csat_is_saved(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.send(type="message", text="你好")
        await s.expect("ack")
        await s.send(type="end")
        ended = await s.expect("message", sender="system")
        while ended["data"].get("kind") != "ended":
            ended = await s.expect("message", sender="system")
        assert "csat" in ended["data"]["buttons"]
        await s.send(type="message", text="还在吗")
        assert (await s.expect("error"))["code"] == "chat_ended"
        await s.send(type="csat", score=5, comment="很好")
        await s.expect("csat_saved")
        await s.send(type="csat", score=9)
        assert (await s.expect("error"))["code"] == "invalid_input"

    run(go)
    conv = Conversation.objects.get(customer=alice)
    assert conv.csat_score == 5 and conv.status == "ended"


def test_stale_sequence_number_resyncs_the_whole_conversation(alice, socket, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.send(type="message", text="你好")
        await s.expect("ack")
        await s.close()
        s2 = socket("/ws/chat/?last_seq=999", user=alice)
        await s2.connect()
        err = await s2.expect("error")
        assert err["code"] == "stale_seq"
        first = await s2.expect("message")
        assert first["seq"] == 1

    run(go)


def test_outside_hours_customer_is_told_when_chat_reopens_and_leaves_a_message(alice, socket, chat_open):
    from datetime import UTC, datetime

    chat_open["open"] = False
    chat_open["next_open"] = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)

    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        welcome = await s.expect("welcome")
        assert welcome["hours"]["open"] is False and welcome["hours"]["next_open"].startswith("2026-12-02")
        assert welcome["hours"]["next_open_text"] == "2026-12-02 09:00"  # Beijing time, for the first screen
        await s.send(type="handoff")
        notice = await s.expect("message", sender="system")
        assert notice["data"]["kind"] == "offline" and "09:00" in notice["text"]
        assert "leave_message" in notice["data"]["buttons"]
        await s.send(type="offline_message", text="我想咨询提现手续费", email="alice@example.com")
        await s.expect("status", status="offline", timeout=20)  # the helpdesk files a ticket

    run(go)
    conv = Conversation.objects.get(customer=alice)
    assert conv.status == "offline"
    assert conv.messages.filter(data__kind="offline_message", body="我想咨询提现手续费").exists()
    from okwallet.chat import integrations

    if integrations.helpdesk_ready():
        ticket = integrations.ticket_by_number(conv.ticket_number)
        assert (
            ticket is not None and ticket.channel == "chat" and ticket.requester_email == "alice@example.com"
        )


def test_real_help_centre_answers_first_with_its_article(alice, socket, real_kb, chat_open):
    async def go():
        s = socket("/ws/chat/", user=alice)
        await s.connect()
        await s.send(type="message", text="忘记密码怎么办")
        answer = await s.expect("message", sender="bot", timeout=10)
        while answer["data"].get("kind") == "greeting":
            answer = await s.expect("message", sender="bot", timeout=10)
        assert answer["data"]["kind"] == "bot_answer" and answer["data"]["url"].startswith("/help/")
        assert "handoff" in answer["data"]["buttons"]
        await s.close()

    run(go)
