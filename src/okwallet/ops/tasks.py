from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from okwallet.ops.services import heartbeat_record


@db_periodic_task(crontab(minute="*"))
def worker_heartbeat() -> None:
    """Proves on the status page that a job worker is running and taking periodic jobs."""
    import os
    import socket

    heartbeat_record(name="worker", details={"host": socket.gethostname(), "pid": os.getpid()})


@db_periodic_task(crontab(hour="3", minute="30"))
def retention_purge_daily() -> None:
    """Removes raw emails and recordings past their retention (logged in the audit log)."""
    from okwallet.ops.retention import retention_purge

    retention_purge()
