"""Gauges for /metrics and the status summary on the supervisor's console and dashboard."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext as _


def metrics() -> list[tuple]:
    from django.db.models import Count

    from okwallet.core.models import Notification
    from okwallet.ops.selectors import job_backlog, worker_heartbeat_age

    rows: list[tuple] = []
    backlog = job_backlog()
    rows.append(("okw_jobs_pending", "Jobs waiting in the queue.", "gauge", {}, backlog["pending"]))
    rows.append(
        (
            "okw_jobs_scheduled",
            "Jobs scheduled for later (retries, delays).",
            "gauge",
            {},
            backlog["scheduled"],
        )
    )
    age = worker_heartbeat_age()
    if age is not None:
        rows.append(
            (
                "okw_worker_heartbeat_age_seconds",
                "Seconds since the job worker's last heartbeat.",
                "gauge",
                {},
                age,
            )
        )
    by_status = dict(
        Notification.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    for status in Notification.Status.values:
        rows.append(
            (
                "okw_notifications",
                "Outbox notifications by status.",
                "gauge",
                {"status": status},
                by_status.get(status, 0),
            )
        )
    return rows


def _panel(request_or_user) -> list[dict]:
    from okwallet.ops.access import is_supervisor
    from okwallet.ops.selectors import check_database, check_jobs, check_redis, check_worker

    user = getattr(request_or_user, "user", request_or_user)
    if not is_supervisor(user):
        return []
    checks = [check_database(), check_redis(), check_jobs(), check_worker()]
    html = render_to_string("ops/_panel.html", {"checks": checks})
    return [{"title": _("System status"), "html": html}]  # render_to_string returns a SafeString


def console_home_panels(request) -> list[dict]:
    return _panel(request)


def dashboard_panels(viewer) -> list[dict]:
    return _panel(viewer)
