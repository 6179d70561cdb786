"""Background jobs of the email channel: thin wrappers around the services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from okwallet.mail.outbound import outbound_deliver, outbound_due_ids


@db_task(retries=2, retry_delay=30)
def deliver_outbound_batch(ids: list[int]) -> None:
    outbound_deliver(ids=ids)


@db_periodic_task(crontab(minute="*"))
def retry_due_outbound() -> None:
    """Sends what is due: retries after a failure, and rows whose job was lost."""
    ids = outbound_due_ids()
    if ids:
        outbound_deliver(ids=ids)
