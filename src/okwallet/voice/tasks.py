"""Hotline jobs: dial due callbacks, retry voicemail tickets, close calls whose end was never reported."""

from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from okwallet.voice.services_jobs import calls_close_stale, voicemail_tickets_retry


@db_periodic_task(crontab(minute="*"))
def dial_due_callbacks() -> None:
    """Every minute: close lost legs, then ring the due callbacks (in hotline hours, agents free)."""
    from okwallet.voice import dialler, services_callbacks

    services_callbacks.callbacks_sweep_lost()
    dialler.dial_due()


@db_periodic_task(crontab(minute="*/5"))
def retry_voicemail_tickets() -> None:
    voicemail_tickets_retry()


@db_periodic_task(crontab(minute="*/15"))
def close_stale_calls() -> None:
    calls_close_stale(older_than=timedelta(hours=4))
