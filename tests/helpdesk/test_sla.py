"""SLA clocks in business time: properties of the arithmetic, pausing, the periodic sweep."""

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from okwallet.core.timeutil import SHANGHAI
from okwallet.helpdesk import clock, sla
from okwallet.helpdesk.escalation import sla_sweep
from okwallet.helpdesk.models import Priority, SlaPolicy, Status, Ticket
from okwallet.helpdesk.services import ticket_add_message, ticket_create, ticket_set_status

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(start=moments, minutes=st.integers(min_value=0, max_value=5000))
def test_fallback_add_then_between_round_trips(start, minutes):
    end = clock._fallback_add("email", start, minutes)
    assert end >= start
    assert clock._fallback_between("email", start, end) == minutes


@settings(max_examples=200, deadline=None)
@given(start=moments, minutes=st.integers(min_value=1, max_value=5000))
def test_fallback_deadline_falls_inside_service_hours(start, minutes):
    end = clock._fallback_add("email", start, minutes).astimezone(SHANGHAI)
    assert end.weekday() < 5
    assert time(9, 0) < end.time() <= time(18, 0)


@settings(max_examples=100, deadline=None)
@given(start=moments, minutes=st.integers(min_value=0, max_value=3000))
def test_always_open_schedule_is_wall_clock(start, minutes):
    assert clock._fallback_add("security", start, minutes) == start + timedelta(minutes=minutes)


@settings(max_examples=100, deadline=None)
@given(start=moments, a=st.integers(0, 2000), b=st.integers(0, 2000))
def test_business_minutes_are_additive(start, a, b):
    """Adding a then b business minutes is adding a+b (through hours when installed)."""
    one = clock.add_business_minutes("email", clock.add_business_minutes("email", start, a), b)
    assert one == clock.add_business_minutes("email", start, a + b)


def test_friday_evening_ticket_is_due_next_working_day(queues, alice):
    # 2026-12-04 is a Friday; 17:30 Beijing time + 4 business hours → Monday 12:30.
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    start = datetime(2026, 12, 4, 17, 30, tzinfo=SHANGHAI)
    sla.start_clocks(t, at=start)
    due = t.first_response_due.astimezone(SHANGHAI)
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-12-07", 12, 30)


def test_policy_by_category_and_priority_wins_over_defaults(queues):
    SlaPolicy.objects.create(
        category="withdrawal",
        priority=Priority.HIGH,
        first_response_minutes=15,
        next_response_minutes=30,
        resolution_minutes=120,
    )
    SlaPolicy.objects.create(
        category="withdrawal",
        priority=None,
        first_response_minutes=45,
        next_response_minutes=90,
        resolution_minutes=600,
    )
    assert sla.targets_for("withdrawal", Priority.HIGH).first_response_minutes == 15
    assert sla.targets_for("withdrawal", Priority.LOW).first_response_minutes == 45
    assert sla.targets_for("deposit", Priority.LOW) == sla.DEFAULT_TARGETS[Priority.LOW]


def test_pending_customer_pauses_and_resumes_with_the_same_business_time_left(queues, alice, agent, online):
    online(agent, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    at = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # Wednesday
    t.resolution_due = clock.add_business_minutes("email", at, 600)
    sla.pause(t, at=at)
    assert t.sla_remaining["resolution_due"] == 600
    later = datetime(2026, 12, 9, 15, 0, tzinfo=SHANGHAI)
    sla.resume(t, at=later)
    assert clock.business_minutes_between("email", later, t.resolution_due) == 600
    assert t.sla_paused_at is None


def test_sweep_warns_then_breaches_escalates_and_raises_priority(queues, alice, agent, online, manager):
    online(agent, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    assert t.assignee == agent
    now = t.first_response_due - timedelta(minutes=10)
    assert sla_sweep(at=now)["warned"] == 1
    assert sla_sweep(at=now)["warned"] == 0  # idempotent
    result = sla_sweep(at=t.first_response_due + timedelta(minutes=1))
    t.refresh_from_db()
    assert result["breached"] == 1 and t.sla_breached and "first_response_due" in t.breach_kinds
    assert t.priority == Priority.HIGH and t.escalation_level == 1
    assert t.events.filter(kind="escalated").exists()
    from okwallet.core.models import Notification

    assert Notification.objects.filter(kind="sla_breach", user=manager).exists()
    assert sla_sweep(at=t.first_response_due + timedelta(minutes=2))["breached"] == 0


def test_pending_tickets_are_not_breached_by_the_sweep(queues, alice, agent, online):
    online(agent, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    ticket_add_message(ticket=t, body="请提供截图", author=agent)
    t.refresh_from_db()
    assert t.status == Status.PENDING
    assert sla_sweep(at=t.created_at + timedelta(days=30))["breached"] == 0


def test_attainment_counts_on_dashboard(queues, alice, agent, online):
    from okwallet.helpdesk.selectors import dashboard_stats

    online(agent, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    ticket_add_message(ticket=t, body="ok", author=agent)
    ticket_set_status(ticket=t, status="solved", actor=agent)
    stats = dashboard_stats(use_cache=False)
    assert stats["sla"]["first_response_pct"] == 100.0
    assert stats["sla"]["resolution_pct"] == 100.0
    assert Ticket.objects.get().status == "solved"
