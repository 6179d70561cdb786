"""The hotline announces waits from the estimator shared with chat; checked against a simulation.

The discrete-event M/M/c simulation is the chat work's (tests/core/test_queueing.py), reused
here over the hotline's typical sizes (2–8 agents on the phone, loads 0.7–0.9).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from okwallet.core.queueing import position_wait_seconds
from okwallet.core.timeutil import now_utc
from okwallet.voice.models import AgentLine, Call
from okwallet.voice.selectors import queue_estimate
from tests.core.test_queueing import check_grid_point


@pytest.mark.parametrize(("servers", "load"), [(2, 0.7), (3, 0.85), (8, 0.8)])
def test_shared_estimator_agrees_with_simulation_at_hotline_sizes(servers, load):
    check_grid_point(servers, load)


def test_announced_wait_uses_agents_on_the_phone_and_recent_handle_times(make_staff, db):
    agents = [make_staff(f"a{i}", "agent") for i in range(3)]
    now = now_utc()
    for i, staff in enumerate(agents):
        busy_call = Call.objects.create(
            call_sid=f"CAbusy{i}", started_at=now, status=Call.Status.CONNECTED, queue="security"
        )
        AgentLine.objects.create(agent=staff, ready=True, current_call=busy_call)
    for i in range(10):  # recent handle time: 240 s
        Call.objects.create(
            call_sid=f"CAdone{i}",
            queue="security",
            started_at=now - timedelta(hours=1),
            answered_at=now - timedelta(minutes=50),
            ended_at=now - timedelta(minutes=46),
            status=Call.Status.ENDED,
        )
    waiting = [
        Call.objects.create(
            call_sid=f"CAw{i}",
            queue="security",
            status=Call.Status.QUEUED,
            started_at=now,
            queued_at=now + timedelta(seconds=i),
        )
        for i in range(5)
    ]
    estimate = queue_estimate(waiting[4])
    assert (estimate.ahead, estimate.servers, estimate.busy) == (4, 3, 3)
    assert estimate.mean_handle_s == pytest.approx(240)
    assert estimate.wait_s == pytest.approx(position_wait_seconds(position=4, servers=3, mean_handle_s=240))
    assert estimate.wait_s == pytest.approx(5 * 240 / 3)
    assert estimate.wait_minutes == 7


def test_complaints_queue_counts_only_senior_managers(make_staff, db):
    AgentLine.objects.create(agent=make_staff("ag", "agent"), ready=True)
    AgentLine.objects.create(agent=make_staff("sm", "senior_manager"), ready=True)
    now = now_utc()
    call = Call.objects.create(
        call_sid="CAc", queue="complaints", status=Call.Status.QUEUED, started_at=now, queued_at=now
    )
    assert queue_estimate(call).servers == 1
