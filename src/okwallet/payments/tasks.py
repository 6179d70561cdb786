from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from okwallet.core.timeutil import now_utc, to_local


@db_periodic_task(crontab(minute="*/2"))
def payments_active_query() -> None:
    """Orders still pending after a few minutes: ask the channel and settle them."""
    from okwallet.payments.services import pending_orders_query

    pending_orders_query()


@db_periodic_task(crontab(hour="10", minute="30"))
def payments_daily_reconciliation() -> None:
    """Yesterday's statement (Asia/Shanghai day) against the ledger; mismatches go to /console/reconciliation/."""
    from okwallet.payments.reconciliation import reconciliation_run

    reconciliation_run(channel="sandbox", day=(to_local(now_utc()) - timedelta(days=1)).date())


@db_periodic_task(crontab(minute="17"))
def payments_idempotency_purge() -> None:
    """Idempotency-Key records older than 24 hours are deleted (docs/wallet.md)."""
    from okwallet.payments.idempotency import idempotency_keys_purge

    idempotency_keys_purge()
