"""Scheduled jobs: finish closures whose cooling-off ended; anonymise after the retention period."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(minute="*/15"))
def accounts_closures_due():
    from okwallet.accounts.closure import closures_due

    return closures_due()


@db_periodic_task(crontab(minute="30", hour="3"))
def accounts_anonymise_due():
    from okwallet.accounts.closure import anonymise_due

    return anonymise_due()


@db_periodic_task(crontab(minute="0", hour="10"))
def accounts_password_reminders():
    from okwallet.accounts.flows import password_reminders_due

    return password_reminders_due()
