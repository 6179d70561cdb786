"""Concurrent writes around one agent on PostgreSQL (found by bench/soak.py: an agent taking the
next chat while their "end" of another chat was committing deadlocked, and both answered 500)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from okwallet.chat import services
from okwallet.chat.models import Conversation
from okwallet.core.audit import audit_log_write

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _queued(customer):
    conv, _ = services.conversation_start(customer=customer)
    services.conversation_handoff(conversation_id=conv.pk)
    return conv


def test_accept_while_the_same_agents_earlier_action_commits_does_not_deadlock(agent, alice, chat_open):
    conv = _queued(alice)
    holding, errors = threading.Event(), []

    def earlier_action():
        # Like ending another chat: the audit chain head is locked and rows pointing at the agent
        # are written; PostgreSQL checks those foreign keys (FOR KEY SHARE on the agent) at COMMIT.
        try:
            with transaction.atomic():
                audit_log_write(actor=agent, action="chat.end")
                holding.set()
                time.sleep(1.5)  # meanwhile the accept below locks the agent, then waits for the head
        except Exception as exc:  # noqa: BLE001 - the deadlock victim: reported below
            errors.append(exc)
        finally:
            connection.close()

    other = threading.Thread(target=earlier_action)
    other.start()
    assert holding.wait(10)
    try:
        services.conversation_accept(conversation_id=conv.pk, agent=agent)
    except OperationalError as exc:
        errors.append(exc)
    other.join(30)
    assert errors == []
    conv.refresh_from_db()
    assert (conv.status, conv.agent_id) == (Conversation.Status.ACTIVE, agent.pk)


def test_two_accepts_by_one_agent_still_queue_on_the_agents_row(agent, alice, bob, chat_open, settings):
    settings.OKWALLET_CHAT_DEFAULT_CAPACITY = 1
    first, second = _queued(alice), _queued(bob)
    accepted, results = threading.Event(), []

    def accept(conv, hold: float):
        try:
            with transaction.atomic():
                services.conversation_accept(conversation_id=conv.pk, agent=agent)
                accepted.set()
                time.sleep(hold)
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - the limit: the second accept is refused
            results.append(getattr(exc, "code", type(exc).__name__))
        finally:
            connection.close()

    a = threading.Thread(target=accept, args=(first, 1.0))
    a.start()
    assert accepted.wait(10)
    b = threading.Thread(target=accept, args=(second, 0))
    b.start()
    a.join(30)
    b.join(30)
    assert sorted(results) == ["agent_at_capacity", "ok"]
    statuses = Conversation.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)
    assert sorted(statuses) == ["active", "queued"]
