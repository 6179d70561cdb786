"""The supervisors' system-status page and panels."""

from datetime import timedelta

import pytest

from okwallet.core.timeutil import now_utc
from okwallet.ops.models import Heartbeat
from okwallet.ops.selectors import ERROR, OK, WARN, check_worker, system_status


def test_only_supervisors_see_the_status_page(client, client_for, alice, agent, manager, supervisor):
    assert client.get("/console/system/").status_code == 302
    assert client_for(alice).get("/console/system/").status_code == 403
    assert client_for(agent).get("/console/system/").status_code == 403
    assert client_for(manager).get("/console/system/").status_code == 403
    page = client_for(supervisor).get("/console/system/")
    assert page.status_code == 200
    text = page.content.decode()
    for testid in [
        "check-database",
        "check-redis",
        "check-jobs",
        "check-worker",
        "check-outbox",
        "check-calendar",
    ]:
        assert f'data-testid="{testid}"' in text


def test_status_page_refreshes_itself_as_a_fragment(client_for, supervisor):
    fragment = client_for(supervisor).get("/console/system/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('<div id="system-status"') and "<html" not in fragment


def test_worker_heartbeat_ages_from_ok_to_late_to_dead(db):
    assert check_worker().status == WARN  # no heartbeat yet
    beat = Heartbeat.objects.create(name="worker", at=now_utc(), details={"host": "web1", "pid": 7})
    assert check_worker().status == OK and "web1" in check_worker().detail
    assert check_worker(now=beat.at + timedelta(minutes=5)).status == WARN
    assert check_worker(now=beat.at + timedelta(hours=1)).status == ERROR


def test_the_worker_heartbeat_job_records_a_beat(db):
    from okwallet.ops.tasks import worker_heartbeat

    worker_heartbeat.call_local()
    assert Heartbeat.objects.get(name="worker").details["pid"]


def test_stuck_notifications_make_the_outbox_need_attention(db, alice):
    from okwallet.core.models import Notification

    old = Notification.objects.create(channel="sms", kind="test", to_address="+8613800000001", body="hi")
    Notification.objects.filter(pk=old.pk).update(created_at=now_utc() - timedelta(minutes=30))
    outbox = next(c for c in system_status()["services"] if c.name == "outbox")
    assert outbox.status == WARN and outbox.figures["stuck"] == 1


def test_apps_contribute_status_lines_and_a_failing_one_shows_as_an_error(db, monkeypatch):
    from okwallet.core import hooks
    from okwallet.ops import selectors

    def imap_line():
        return [{"name": "imap", "label": "IMAP poll", "status": "ok", "detail": "last poll 30 s ago"}]

    def broken():
        raise RuntimeError("mailbox unreachable")

    monkeypatch.setattr(
        hooks, "_implementations", lambda name: (imap_line, broken) if name == "system_status" else ()
    )
    lines = selectors.hook_lines()
    assert [(c.label, c.status) for c in lines][0] == ("IMAP poll", OK)
    assert lines[1].status == ERROR and "mailbox unreachable" in lines[1].detail


def test_supervisor_console_home_has_the_status_panel(client_for, supervisor, agent):
    assert 'data-testid="ops-panel"' in client_for(supervisor).get("/console/").content.decode()
    assert 'data-testid="ops-panel"' not in client_for(agent).get("/console/").content.decode()


@pytest.mark.redis
def test_redis_check_reports_memory_when_configured(db):
    from okwallet.ops.selectors import check_redis

    check = check_redis()
    assert check.status in (OK, WARN) and check.latency_ms is not None
    assert "clients" in check.detail or "个连接" in check.detail
