from datetime import timedelta

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from okwallet.core.models import Notification
from okwallet.core.notify import notification_deliver


@db_task(retries=5, retry_delay=30)
def deliver_notification(notification_id: int) -> None:
    notification_deliver(notification_id)


@db_periodic_task(crontab(minute="*/5"))
def redeliver_stuck_notifications() -> None:
    """Catches messages whose job was lost (e.g. a worker killed before it ran)."""
    cutoff = timezone.now() - timedelta(minutes=2)
    for pk in Notification.objects.filter(
        status=Notification.Status.QUEUED, created_at__lt=cutoff
    ).values_list("pk", flat=True)[:500]:
        deliver_notification(pk)
