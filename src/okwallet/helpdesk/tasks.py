"""Huey jobs: thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=2, retry_delay=60)
def deliver_webhook(delivery_id: int) -> None:
    from okwallet.helpdesk.webhooks import webhook_deliver

    webhook_deliver(delivery_id)


@db_periodic_task(crontab(minute="*"))
def retry_webhooks() -> None:
    from okwallet.helpdesk.webhooks import webhooks_retry_due

    webhooks_retry_due()


@db_periodic_task(crontab(minute="*"))
def sla_sweep_job() -> None:
    """Warnings, breaches and escalations for SLAs and complaint deadlines, every minute."""
    from okwallet.helpdesk.escalation import sla_sweep

    sla_sweep()
