"""Automatic assignment: who gets a waiting chat, when, and that no agent ever passes their limit.

Zhou (agent) and Wu (agent) take chats; Chen (senior manager) owns complaints. A console socket
is registered with the same service the agent socket calls (``agent_socket_open``); the socket
tests at the end use the real consumer.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from okwallet.chat import assignment, integrations, services
from okwallet.chat.errors import AgentAtCapacity
from okwallet.chat.models import AgentChatState, AgentSocket, Conversation
from okwallet.core.timeutil import now_utc
from tests.chat.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def wu(make_staff):
    return make_staff("wu", "agent", "客服 小吴")


@pytest.fixture
def available(chat_open):
    """available(agent, capacity=3, queues=()) → online, auto-accept on, a console socket open."""
    sockets = iter(range(1000))

    def make(user, *, capacity=3, queues=()):
        if integrations.helpdesk_ready():
            from okwallet.helpdesk.services import presence_set, queues_ensure

            found = queues_ensure()
            for code in queues:
                found[code].members.add(user)
            presence_set(user=user, status="online", chat_capacity=capacity)
        assignment.agent_socket_open(agent=user, channel_name=f"test.{user.pk}.{next(sockets)}")
        assignment.agent_availability_set(agent=user, auto_accept=True)
        return user

    return make


def waiting_chat(customer, topic="general"):
    conv, _ = services.conversation_start(customer=customer, topic=topic)
    services.conversation_handoff(conversation_id=conv.pk)
    return Conversation.objects.get(pk=conv.pk)


def fresh(conv):
    return Conversation.objects.select_related("agent").get(pk=conv.pk)


def test_a_customer_joining_the_queue_goes_to_an_available_agent_at_once(alice, agent, available):
    from okwallet.core.models import AuditLogEntry

    available(agent)
    conv = fresh(waiting_chat(alice))
    assert conv.status == "active" and conv.agent == agent
    joined = conv.messages.get(data__kind="accepted")
    assert joined.data["how"] == "auto" and "客服 小周" in joined.body
    assert AuditLogEntry.objects.filter(action="chat.auto_assign", object_id=str(conv.pk)).exists()


def test_nobody_gets_chats_without_auto_accept_a_live_socket_and_online_presence(
    alice, bob, make_customer, agent, available
):
    available(agent)
    assignment.agent_availability_set(agent=agent, auto_accept=False)
    assert fresh(waiting_chat(alice)).status == "queued"  # switched off

    assignment.agent_availability_set(agent=agent, auto_accept=True)
    assert fresh(Conversation.objects.get(customer=alice)).agent == agent  # switching on takes it

    AgentSocket.objects.filter(user=agent).update(seen_at=now_utc() - timedelta(minutes=5))
    assert fresh(waiting_chat(bob)).status == "queued"  # the agent's server stopped: no live socket

    AgentSocket.objects.filter(user=agent).update(seen_at=now_utc())
    if integrations.helpdesk_ready():
        from okwallet.helpdesk.services import presence_set

        presence_set(user=agent, status="away")
        assert fresh(waiting_chat(make_customer())).status == "queued"  # away in the helpdesk
        assert assignment.available_agents() == []


def test_the_limit_is_kept_and_a_freed_slot_takes_the_next_customer(alice, bob, agent, available):
    available(agent, capacity=1)
    first = fresh(waiting_chat(alice))
    second = fresh(waiting_chat(bob))
    assert first.status == "active" and second.status == "queued"
    services.conversation_end(conversation_id=first.pk, by="agent", actor=agent)
    assert fresh(second).agent == agent  # the agent's slot came free


def test_priority_customers_first_then_the_longest_waiting(
    alice, bob, make_customer, agent, available, monkeypatch
):
    elder = make_customer()
    monkeypatch.setattr(integrations, "customer_age", lambda user: 72 if user.pk == elder.pk else 35)
    a = waiting_chat(alice)
    b = waiting_chat(bob)
    e = waiting_chat(elder)  # joins last, with priority
    assert {fresh(c).status for c in (a, b, e)} == {"queued"}
    available(agent, capacity=1)
    assert fresh(e).status == "active"
    services.conversation_end(conversation_id=e.pk, by="agent", actor=agent)
    assert fresh(a).status == "active" and fresh(b).status == "queued"


def test_equally_free_agents_take_turns_and_the_less_loaded_gets_the_next(
    make_customer, agent, wu, available
):
    available(agent, capacity=3)
    available(wu, capacity=3)
    got = [fresh(waiting_chat(make_customer())).agent.username for _ in range(4)]
    assert sorted(got[:2]) == ["wu", "zhou"] and got[2] != got[3]  # alternating
    busy = Conversation.objects.filter(agent__username=got[3], status="active").first()
    services.conversation_end(conversation_id=busy.pk, by="agent", actor=busy.agent)
    loads = {
        u: Conversation.objects.filter(agent__username=u, status="active").count() for u in ("wu", "zhou")
    }
    lighter = min(loads, key=loads.get)
    assert fresh(waiting_chat(make_customer())).agent.username == lighter


def test_chats_go_to_agents_of_their_queue(alice, bob, make_customer, agent, wu, manager, available):
    if not integrations.helpdesk_ready():
        pytest.skip("queues come from the helpdesk")
    available(agent, queues=("payments",))
    available(wu)  # in no queue: any queue that is not restricted
    available(manager, queues=("complaints",))
    assert fresh(waiting_chat(alice, "payments")).agent == agent
    assert fresh(waiting_chat(bob, "security")).agent == wu
    assert fresh(waiting_chat(make_customer(), "complaints")).agent == manager
    services.conversation_end(conversation_id=Conversation.objects.get(customer=bob).pk, by="agent", actor=wu)
    AgentChatState.objects.filter(user=manager).update(auto_accept=False)
    assert fresh(waiting_chat(make_customer(), "complaints")).status == "queued"  # never to an agent


def test_a_chat_transferred_to_a_queue_does_not_come_back_to_the_same_agent(alice, agent, wu, available):
    available(agent)
    conv = fresh(waiting_chat(alice))
    assert conv.agent == agent
    services.conversation_transfer(
        conversation_id=conv.pk, actor=agent, to_topic="security", note="请安全组看看"
    )
    assert fresh(conv).status == "queued"
    available(wu)
    assert fresh(conv).agent == wu


def test_a_disconnected_agents_chats_return_to_the_queue_after_the_grace_period(
    alice, bob, agent, wu, available, settings
):
    settings.OKWALLET_CHAT_AGENT_GRACE_S = 60
    available(agent, capacity=1)
    conv = fresh(waiting_chat(alice))
    joined = conv.queued_at
    later = fresh(waiting_chat(bob))  # waits behind alice
    assert conv.agent == agent and later.status == "queued"
    for sock in AgentSocket.objects.filter(user=agent):
        assignment.agent_socket_close(agent_id=agent.pk, channel_name=sock.channel_name)

    assert assignment.requeue_departed() == []  # within the grace period nothing moves
    assert fresh(conv).agent == agent

    AgentChatState.objects.filter(user=agent).update(last_seen_at=now_utc() - timedelta(seconds=61))
    assert assignment.requeue_departed() == [conv.pk]
    back = fresh(conv)
    assert back.status == "queued" and back.agent is None and back.queued_at == joined
    assert back.participants.get(user=agent).left_at is not None
    told = back.messages.filter(data__kind="requeued")
    assert {m.internal for m in told} == {True, False}  # a note for staff, a notice for the customer

    available(wu, capacity=1)
    assert fresh(conv).agent == wu  # alice first: she keeps her original place ahead of bob
    assert fresh(later).status == "queued"


def test_an_agent_who_comes_back_within_the_grace_period_keeps_the_chat(alice, agent, available):
    available(agent)
    conv = fresh(waiting_chat(alice))
    for sock in AgentSocket.objects.filter(user=agent):
        assignment.agent_socket_close(agent_id=agent.pk, channel_name=sock.channel_name)
    AgentChatState.objects.filter(user=agent).update(last_seen_at=now_utc() - timedelta(minutes=5))
    assignment.agent_socket_open(agent=agent, channel_name="test.back")
    assert assignment.requeue_departed() == []
    assert fresh(conv).agent == agent


def test_the_periodic_sweep_assigns_what_the_events_missed(alice, agent, available):
    from okwallet.chat.tasks import chat_assignment_sweep

    conv = waiting_chat(alice)
    available(agent)  # turning on triggers a pass itself...
    assert fresh(conv).agent == agent
    services.conversation_end(conversation_id=conv.pk, by="agent", actor=agent)
    AgentChatState.objects.filter(user=agent).update(auto_accept=False)
    queued = waiting_chat(alice)
    AgentChatState.objects.filter(user=agent).update(auto_accept=True)  # ...a change without an event
    assert fresh(queued).status == "queued"
    chat_assignment_sweep()  # Huey runs jobs inline in tests
    assert fresh(queued).agent == agent


def test_agents_can_switch_auto_accept_from_the_console(client_for, agent, alice, chat_open):
    from okwallet.core.models import AuditLogEntry

    c = client_for(agent)
    assert (
        "Take chats automatically" in c.get("/console/chat/").content.decode()
        or "自动" in c.get("/console/chat/").content.decode()
    )
    resp = c.post("/console/chat/availability/", {"auto_accept": "1"})
    assert resp.status_code == 302
    assert AgentChatState.objects.get(user=agent).auto_accept is True
    assert AuditLogEntry.objects.filter(action="chat.availability").count() == 1
    if integrations.helpdesk_ready():
        from okwallet.helpdesk.models import AgentPresence

        assert AgentPresence.objects.get(user=agent).status == "online"  # switching on means working
    c.post("/console/chat/availability/", {"auto_accept": "0"})
    assert AgentChatState.objects.get(user=agent).auto_accept is False
    assert client_for(alice).post("/console/chat/availability/", {"auto_accept": "1"}).status_code in (
        302,
        403,
    )
    assert not AgentChatState.objects.filter(user=alice).exists()


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_passes_and_accepts_never_pass_an_agents_limit(make_customer, agent, wu, available):
    """Twelve threads at once (assignment passes like several servers run, and manual accepts):
    every agent ends at exactly their limit, no chat has two agents, nothing fails."""
    available(agent, capacity=2)
    available(wu, capacity=3)
    AgentChatState.objects.update(auto_accept=False)  # queue them up first
    convs = [waiting_chat(make_customer()) for _ in range(10)]
    AgentChatState.objects.update(auto_accept=True)
    errors, start = [], threading.Barrier(12)

    def pass_():
        try:
            start.wait()
            assignment.assign_waiting()
        except Exception as exc:  # collected; asserted below
            errors.append(exc)
        finally:
            connection.close()

    def accept(user, conv):
        try:
            start.wait()
            services.conversation_accept(conversation_id=conv.pk, agent=user)
        except AgentAtCapacity:
            pass
        except Exception as exc:
            if getattr(exc, "code", "") not in ("chat_already_taken", "chat_not_waiting"):
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pass_) for _ in range(8)]
    threads += [threading.Thread(target=accept, args=(u, c)) for u, c in zip([agent, wu] * 2, convs[-4:])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    loads = {u.username: Conversation.objects.filter(agent=u, status="active").count() for u in (agent, wu)}
    assert loads == {"zhou": 2, "wu": 3}
    accepted = Conversation.objects.filter(pk__in=[c.pk for c in convs], status="active")
    for conv in accepted:
        assert conv.messages.filter(data__kind="accepted").count() == 1
    assert Conversation.objects.filter(pk__in=[c.pk for c in convs], status="queued").count() == 5


# --- over the sockets --------------------------------------------------------------------------


def test_an_agent_socket_with_auto_accept_on_is_given_the_waiting_customer(
    alice, bob, agent, socket, chat_open
):
    from okwallet.chat.assignment import agent_availability_set

    async def go():
        c1 = socket("/ws/chat/", user=alice)
        await c1.connect()
        await c1.send(type="handoff")
        await c1.expect("status", status="queued")
        c2 = socket("/ws/chat/", user=bob)
        await c2.connect()
        await c2.send(type="handoff")
        await c2.expect("queue", position=2)

        await sync_to_async(agent_availability_set)(agent=agent, auto_accept=True)
        if integrations.helpdesk_ready():
            from okwallet.helpdesk.services import presence_set

            await sync_to_async(presence_set)(user=agent, status="online", chat_capacity=1)
        a = socket("/ws/chat/agent/", user=agent)
        assert (await a.connect())[0]
        welcome = await a.expect("welcome")
        assert welcome["auto_accept"] is True
        given = await a.expect("assigned")  # connecting made the agent available
        assert given["mine"] is True
        conv = await sync_to_async(Conversation.objects.get)(customer=alice)
        assert given["conversation"] == conv.public_id
        active = await c1.expect("status", status="active")
        assert active["agent"] == "客服 小周"
        moved = await c2.expect("queue", position=1)  # the one still waiting moves up, live
        assert moved["ahead"] == 0
        assert await sync_to_async(AgentSocket.objects.filter(user=agent).count)() == 1
        await a.close()
        assert await sync_to_async(AgentSocket.objects.filter(user=agent).count)() == 0
        state = await sync_to_async(AgentChatState.objects.get)(user=agent)
        assert state.last_seen_at is not None
        await c1.close()
        await c2.close()

    run_async(go)
