"""Payments reads (docs/interfaces.md): wallet summary, transaction records, slow-deposit signal."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.db.models import Q, Sum

from okwallet.core.timeutil import now_utc
from okwallet.ledger.models import Account
from okwallet.payments.models import BankCard, Transaction, Wallet


def wallet_for(user) -> Wallet | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return Wallet.objects.filter(user_id=user.pk).select_related("account").first()


def wallet_summary(user) -> dict:
    """{"available_fen", "pending_out_fen", "pending_in_fen", "currency"} — zeros when there is no wallet."""
    wallet = wallet_for(user)
    if wallet is None:
        return {"available_fen": 0, "pending_out_fen": 0, "pending_in_fen": 0, "currency": "CNY"}
    acc = Account.objects.get(pk=wallet.account_id)
    pending_in = (
        Transaction.objects.filter(
            user_id=user.pk, kind=Transaction.Kind.DEPOSIT, status=Transaction.Status.PENDING
        ).aggregate(s=Sum("amount_fen"))["s"]
        or 0
    )
    return {
        "available_fen": acc.credits_posted - acc.debits_posted - acc.debits_pending,
        "pending_out_fen": acc.debits_pending,
        "pending_in_fen": int(pending_in),
        "currency": acc.currency,
    }


def transactions_for(user, *, limit: int = 20) -> list[Transaction]:
    """Newest first; each has reference, kind, status, amount_fen, method, channel_ref, created_at."""
    if user is None or not getattr(user, "pk", None):
        return []
    return list(Transaction.objects.filter(user_id=user.pk).select_related("card")[:limit])


def transactions_query(user, *, kind: str = "", status: str = "", date_from=None, date_to=None, q: str = ""):
    """The filtered queryset behind the records page, the API list and the CSV export."""
    qs = Transaction.objects.filter(user_id=user.pk).select_related("card", "counterparty")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    if q:
        qs = qs.filter(Q(reference__icontains=q) | Q(channel_ref__icontains=q) | Q(note__icontains=q))
    return qs


def transaction_by_reference(reference: str) -> Transaction | None:
    """Our reference or the channel's (360 search, IVR). Not permission-checked: staff callers only."""
    reference = (reference or "").strip()
    if not reference:
        return None
    return (
        Transaction.objects.filter(Q(reference=reference) | Q(channel_ref=reference))
        .select_related("user", "card")
        .order_by("-created_at")
        .first()
    )


def access_transaction(user, reference: str) -> Transaction:
    """The customer's own transaction, or NotFound (never reveals that someone else's exists)."""
    from okwallet.core.errors import NotFound

    txn = (
        Transaction.objects.filter(user_id=getattr(user, "pk", None), reference=reference)
        .select_related("card", "counterparty")
        .first()
    )
    if txn is None:
        raise NotFound("transaction_not_found")
    return txn


def correction_reason(txn: Transaction) -> str:
    """Why a reversal or refund record was made (the reason label, never the agent's note)."""
    if txn.kind not in (Transaction.Kind.REVERSAL, Transaction.Kind.REFUND):
        return ""
    from okwallet.payments.models import Reversal

    rev = Reversal.objects.filter(Q(debit_txn=txn) | Q(credit_txn=txn)).first()
    return str(rev.get_reason_code_display()) if rev else ""


def cards_for(user) -> list[BankCard]:
    return list(BankCard.objects.filter(user_id=user.pk, status=BankCard.Status.ACTIVE).order_by("-bound_at"))


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    index = max(0, int(round(0.95 * len(values) + 0.5)) - 1)
    return float(values[min(index, len(values) - 1)])


SLOW_FACTOR = 2.0
SLOW_MIN_SECONDS = 60.0
SLOW_MIN_SAMPLES = 5


def settlement_p95(*, since, until=None, channel: str | None = None) -> float | None:
    """p95 of deposit settlement times (created → credited), counting still-pending ones at their age."""
    until = until or now_utc()
    qs = Transaction.objects.filter(
        kind=Transaction.Kind.DEPOSIT, created_at__gte=since, created_at__lte=until
    )
    if channel:
        qs = qs.filter(channel=channel)
    values = []
    for status, created, settled in qs.values_list("status", "created_at", "settled_at")[:20000]:
        if status in (Transaction.Status.SUCCEEDED, Transaction.Status.REVERSED) and settled:
            values.append((settled - created).total_seconds())
        elif status == Transaction.Status.PENDING:
            values.append((until - created).total_seconds())
    return _p95(values) if len(values) >= SLOW_MIN_SAMPLES else None


def deposits_slow_now() -> dict:
    """{"slow", "p95_last_hour_s", "p95_7d_s"}: slow when the last hour's p95 settlement time is well
    above the 7-day p95 (twice, and at least a minute). Cached for a minute: every page asks."""
    cached = cache.get("payments:deposits_slow")
    if cached is not None:
        return cached
    now = now_utc()
    hour = settlement_p95(since=now - timedelta(hours=1), until=now)
    # The baseline is the 7 days before this hour, so a spike does not raise its own yardstick.
    # It moves slowly and reads up to a week of deposits: computed every 15 minutes, not every one.
    week = cache.get("payments:deposits_p95_7d", "missing")
    if week == "missing":
        week = settlement_p95(since=now - timedelta(days=7), until=now - timedelta(hours=1))
        cache.set("payments:deposits_p95_7d", week, 900)
    slow = bool(hour is not None and week is not None and hour >= max(week * SLOW_FACTOR, SLOW_MIN_SECONDS))
    result = {"slow": slow, "p95_last_hour_s": hour, "p95_7d_s": week}
    cache.set("payments:deposits_slow", result, 60)
    return result


# --- console (staff callers only: not permission-checked here) ----------------------------------


def reconciliation_runs():
    from okwallet.payments.models import ReconciliationRun

    return ReconciliationRun.objects.order_by("-statement_date", "-id")


def mismatches_query(
    *,
    status: str = "open",
    kind: str = "",
    date_from=None,
    date_to=None,
    q: str = "",
    run_id: int | None = None,
):
    """The reconciliation page's list: open items first by default, newest first."""
    from okwallet.payments.models import ReconciliationMismatch

    qs = ReconciliationMismatch.objects.select_related(
        "run", "transaction", "transaction__user", "resolved_by"
    )
    if status in ReconciliationMismatch.Status.values:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if run_id:
        qs = qs.filter(run_id=run_id)
    if date_from:
        qs = qs.filter(
            Q(run__statement_date__gte=date_from) | Q(run__isnull=True, created_at__date__gte=date_from)
        )
    if date_to:
        qs = qs.filter(
            Q(run__statement_date__lte=date_to) | Q(run__isnull=True, created_at__date__lte=date_to)
        )
    if q:
        qs = qs.filter(
            Q(reference__icontains=q) | Q(channel_ref__icontains=q) | Q(ticket_number__icontains=q)
        )
    return qs.order_by("-id")


def mismatch_counts() -> dict:
    from django.db.models import Count

    from okwallet.payments.models import ReconciliationMismatch

    rows = (
        ReconciliationMismatch.objects.filter(status=ReconciliationMismatch.Status.OPEN)
        .values("kind")
        .annotate(n=Count("id"))
    )
    return {row["kind"]: row["n"] for row in rows}


def reversals_waiting():
    from okwallet.payments.models import Reversal

    return Reversal.objects.filter(status=Reversal.Status.PENDING_APPROVAL).select_related(
        "original", "original__user", "requested_by"
    )


def transaction_for_console(reference: str) -> Transaction | None:
    """Our reference (or the channel's) with what the console detail shows."""
    txn = transaction_by_reference(reference)
    if txn is None:
        return None
    return (
        Transaction.objects.select_related("user", "card", "counterparty", "counterpart_txn", "original")
        .prefetch_related("events")
        .get(pk=txn.pk)
    )
