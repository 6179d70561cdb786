from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from okwallet.ledger.services import pending_expire_due


@db_periodic_task(crontab(minute="*"))
def ledger_expire_pending() -> None:
    """Pending transfers with a timeout are released once it passes."""
    pending_expire_due()
