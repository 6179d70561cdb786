import pytest

from okwallet.helpdesk import errors
from okwallet.helpdesk.models import Queue
from okwallet.helpdesk.routing import collision_leave, collision_others, collision_touch, ticket_assign
from okwallet.helpdesk.selectors import agents_available
from okwallet.helpdesk.services import presence_set, ticket_create


def _new(alice, category="deposit"):
    return ticket_create(channel="web", category=category, subject="s", body="b", customer=alice)


def test_least_loaded_assignment_balances_agents(alice, make_staff, online, queues):
    a, b = online(make_staff("a1", "agent"), "payments"), online(make_staff("a2", "agent"), "payments")
    owners = [_new(alice).assignee for _ in range(4)]
    assert owners.count(a) == 2 and owners.count(b) == 2


def test_round_robin_rotates_in_order(alice, make_staff, online, queues):
    q = queues["payments"]
    q.strategy = Queue.Strategy.ROUND_ROBIN
    q.save()
    people = [online(make_staff(f"r{i}", "agent"), "payments") for i in range(3)]
    owners = [_new(alice).assignee for _ in range(6)]
    assert owners == people + people


def test_away_and_full_agents_get_no_new_tickets(alice, make_staff, online, queues):
    away = online(make_staff("away", "agent"), "payments")
    presence_set(user=away, status="away")
    full = online(make_staff("full", "agent"), "payments", capacity=1)
    first = _new(alice)
    assert first.assignee == full
    assert _new(alice).assignee is None


def test_complaints_are_not_auto_assigned(alice, manager, online, queues):
    online(manager, "complaints")
    assert _new(alice, "complaint").assignee is None


def test_manual_assignment_to_offline_agent_is_refused(alice, make_staff, online, agent, queues):
    online(agent, "payments")
    offline = make_staff("off", "agent")
    queues["payments"].members.add(offline)
    t = ticket_create(
        channel="web", category="deposit", subject="s", body="b", customer=alice, auto_assign=False
    )
    with pytest.raises(errors.AgentUnavailable):
        ticket_assign(ticket=t, assignee=offline, actor=agent)
    t.refresh_from_db()
    assert t.assignee is None


def test_agent_outside_the_queue_cannot_be_assigned(alice, make_staff, online, agent, queues):
    online(agent, "payments")
    other = online(make_staff("sec", "agent"), "security")
    t = _new(alice)
    with pytest.raises(errors.AgentUnavailable):
        ticket_assign(ticket=t, assignee=other, actor=agent)


def test_agents_available_lists_online_queue_members(make_staff, online, queues):
    a = online(make_staff("x1", "agent"), "payments")
    b = make_staff("x2", "agent")
    presence_set(user=b, status="offline")
    assert agents_available() == [a]
    assert agents_available("payments") == [a]
    assert agents_available("security") == []


def test_collision_entries_expire_and_leave(agent, make_staff):
    other = make_staff("o", "agent", "小吴")
    collision_touch(ticket_id=1, user=other, mode="replying")
    seen = collision_touch(ticket_id=1, user=agent)
    assert seen == [{"user_id": other.pk, "name": "小吴", "mode": "replying"}]
    collision_leave(ticket_id=1, user=other)
    assert collision_others(ticket_id=1, user=agent) == []


@pytest.mark.redis
def test_collision_is_shared_through_redis(agent, make_staff):
    """With Redis as the cache every app process sees the same viewers (written by one client,
    read by a fresh connection)."""
    import os

    import redis
    from django.core.cache import caches

    assert "Redis" in type(caches["default"]).__name__
    other = make_staff("o2", "agent", "小王")
    collision_touch(ticket_id=99, user=other)
    raw = redis.Redis.from_url(os.environ["OKWALLET_TEST_REDIS_URL"])
    keys = [k for k in raw.scan_iter(match="*hd:collide:99")]
    assert keys and raw.ttl(keys[0]) > 0
    assert collision_others(ticket_id=99, user=agent)[0]["name"] == "小王"
