"""Daily reconciliation: the channel's statement against our settled transactions, and the
agents' resolve actions (console page /console/reconciliation/), each audited."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput, NotFound, OkError
from okwallet.core.money import format_fen
from okwallet.core.timeutil import now_utc
from okwallet.payments.channels import get_channel
from okwallet.payments.models import ReconciliationMismatch, ReconciliationRun, Reversal, Transaction

try:
    from zoneinfo import ZoneInfo
except ImportError:  # pragma: no cover
    ZoneInfo = None

SHANGHAI = ZoneInfo("Asia/Shanghai")


def reconciliation_run(*, channel: str, day: date, rows: list[dict] | None = None) -> ReconciliationRun:
    """Compare one statement day. Re-running replaces the open items of that day (resolved ones stay)."""
    theirs_rows = rows if rows is not None else get_channel(channel).statement(day=day)
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    end = start + timedelta(days=1)
    ours = {
        t.reference: t
        for t in Transaction.objects.filter(
            channel=channel,
            kind__in=[Transaction.Kind.DEPOSIT, Transaction.Kind.WITHDRAWAL],
            # A deposit reversed later still arrived that day (its reversal is a movement of its own).
            status__in=[Transaction.Status.SUCCEEDED, Transaction.Status.REVERSED],
            settled_at__gte=start,
            settled_at__lt=end,
        )
    }
    theirs = {r["reference"]: r for r in theirs_rows if not _is_refund_row(r)}
    refund_rows = [r for r in theirs_rows if _is_refund_row(r)]
    items, refunds_ours = _refund_items(channel, refund_rows, start, end)
    for ref, row in theirs.items():
        txn = ours.get(ref) or Transaction.objects.filter(reference=ref).first()
        if ref not in ours:
            items.append(
                ReconciliationMismatch(
                    kind=ReconciliationMismatch.Kind.MISSING_OURS,
                    reference=ref[:32],
                    channel_ref=row["channel_ref"][:64],
                    theirs_fen=row["amount_fen"],
                    ours_fen=txn.amount_fen if txn else None,
                    transaction=txn,
                )
            )
        elif row["amount_fen"] != txn.amount_fen:
            items.append(
                ReconciliationMismatch(
                    kind=ReconciliationMismatch.Kind.AMOUNT_DIFFERS,
                    reference=ref,
                    channel_ref=row["channel_ref"][:64],
                    theirs_fen=row["amount_fen"],
                    ours_fen=txn.amount_fen,
                    transaction=txn,
                )
            )
    for ref, txn in ours.items():
        if ref not in theirs:
            items.append(
                ReconciliationMismatch(
                    kind=ReconciliationMismatch.Kind.MISSING_THEIRS,
                    reference=ref,
                    channel_ref=txn.channel_ref,
                    ours_fen=txn.amount_fen,
                    transaction=txn,
                )
            )
    with transaction.atomic():
        run, _created = ReconciliationRun.objects.select_for_update().get_or_create(
            channel=channel, statement_date=day
        )
        resolved = set(
            run.items.filter(status=ReconciliationMismatch.Status.RESOLVED).values_list("reference", "kind")
        )
        run.items.filter(status=ReconciliationMismatch.Status.OPEN).delete()
        fresh = [i for i in items if (i.reference, i.kind) not in resolved]
        for i in fresh:
            i.run = run
        ReconciliationMismatch.objects.bulk_create(fresh)
        run.rows_theirs = len(theirs) + len(refund_rows)
        run.rows_ours = len(ours) + refunds_ours
        run.mismatches = run.items.count()
        run.save()
        audit_log_write(
            actor=None,
            action="payments.reconciliation_run",
            obj=run,
            details={"day": day.isoformat(), "mismatches": run.mismatches},
        )
    return run


REFUND_KINDS = ("REFUND", "CHARGEBACK")


def _is_refund_row(row: dict) -> bool:
    return str(row.get("kind", "")).upper() in REFUND_KINDS


def _refund_items(channel: str, rows: list[dict], start: datetime, end: datetime) -> tuple[list, int]:
    """The statement's refund lines (refund number in ``channel_ref``, refunded deposit in
    ``reference``) against the reversals the channel reported to us that day, by refund number:
    the mismatches, and how many refunds we have that day."""
    ours = {
        rev.channel_refund_id: rev
        for rev in Reversal.objects.filter(
            original__channel=channel, requested_at__gte=start, requested_at__lt=end
        )
        .exclude(channel_refund_id="")
        .select_related("original")
    }
    theirs = {r["channel_ref"]: r for r in rows}
    items = []
    for refund_id, row in theirs.items():
        rev = ours.get(refund_id) or Reversal.objects.filter(channel_refund_id=refund_id).first()
        original = rev.original if rev else Transaction.objects.filter(reference=row["reference"]).first()
        common = {
            "reference": refund_id[:32],
            "channel_ref": row["reference"][:64],
            "channel_kind": str(row.get("kind", "")).upper()[:16],
            "theirs_fen": row["amount_fen"],
            "transaction": original,
        }
        if rev is None:  # never booked: its notification was lost
            items.append(
                ReconciliationMismatch(kind=ReconciliationMismatch.Kind.REFUND_OURS, ours_fen=None, **common)
            )
        elif rev.amount_fen != row["amount_fen"]:  # (booked on another day, near midnight, is fine)
            items.append(
                ReconciliationMismatch(
                    kind=ReconciliationMismatch.Kind.AMOUNT_DIFFERS, ours_fen=rev.amount_fen, **common
                )
            )
    for refund_id, rev in ours.items():
        if refund_id not in theirs:
            items.append(
                ReconciliationMismatch(
                    kind=ReconciliationMismatch.Kind.REFUND_THEIRS,
                    reference=refund_id[:32],
                    channel_ref=rev.original.reference,
                    channel_kind="CHARGEBACK" if rev.reason_code == Reversal.Reason.CHARGEBACK else "REFUND",
                    ours_fen=rev.amount_fen,
                    transaction=rev.original,
                )
            )
    return items, len(ours)


def _locked_open(mismatch_id: int) -> ReconciliationMismatch:
    item = ReconciliationMismatch.objects.select_for_update().filter(pk=mismatch_id).first()
    if item is None:
        raise NotFound("mismatch_not_found", _("No such reconciliation item."))
    return item


def _mark_resolved(item, *, actor, resolution: str, note: str, request, action: str, extra=None) -> None:
    item.status = ReconciliationMismatch.Status.RESOLVED
    item.resolution = resolution
    item.resolution_note = note[:300]
    item.resolved_by = actor
    item.resolved_at = now_utc()
    item.save(update_fields=["status", "resolution", "resolution_note", "resolved_by", "resolved_at"])
    audit_log_write(
        actor=actor,
        action=action,
        obj=item,
        request=request,
        details={"kind": item.kind, "reference": item.reference, "note": note[:300], **(extra or {})},
    )


def _resolve_once(mismatch_id: int, **resolved) -> ReconciliationMismatch:
    """Lock the item and close it with ``resolved`` (see ``_mark_resolved``), unless a concurrent
    click closed it first. Call inside the transaction that did the work."""
    item = _locked_open(mismatch_id)
    if item.status != ReconciliationMismatch.Status.RESOLVED:
        _mark_resolved(item, **resolved)
    return item


def _clean_note(note: str, *, required: bool) -> str:
    note = " ".join((note or "").split())[:300]
    if required and len(note) < 3:
        raise InvalidInput("resolution_note_required", _("Write a short note on what was found."))
    return note


def mismatch_resolve(
    *, mismatch_id: int, actor, note: str, request=None, resolution: str = "manual"
) -> ReconciliationMismatch:
    """Close an item by hand with a note (audited). Resolving twice is a no-op."""
    note = _clean_note(note, required=True)
    with transaction.atomic():
        item = _locked_open(mismatch_id)
        if item.status == ReconciliationMismatch.Status.RESOLVED:
            return item
        _mark_resolved(
            item,
            actor=actor,
            resolution=resolution,
            note=note,
            request=request,
            action="payments.mismatch_resolved",
        )
    return item


def mismatch_mark_channel_error(
    *, mismatch_id: int, actor, note: str, request=None
) -> ReconciliationMismatch:
    """The channel's statement is wrong (their error): close the item with the agent's note."""
    note = _clean_note(note, required=True)
    with transaction.atomic():
        item = _locked_open(mismatch_id)
        if item.status == ReconciliationMismatch.Status.RESOLVED:
            raise OkError("mismatch_resolved", _("This item is already resolved."), http_status=409)
        _mark_resolved(
            item,
            actor=actor,
            resolution=ReconciliationMismatch.Resolution.CHANNEL_ERROR,
            note=note,
            request=request,
            action="payments.mismatch_channel_error",
        )
    return item


def is_settleable(item: ReconciliationMismatch) -> bool:
    """Whether ``mismatch_settle`` can apply the channel's side: a deposit or withdrawal of ours
    the statement lists as paid, or a refund of our deposit the statement lists and we never
    booked (the console shows its button on the same condition)."""
    txn = item.transaction
    if item.theirs_fen is None or txn is None:
        return False
    if item.kind == ReconciliationMismatch.Kind.REFUND_OURS:
        return bool(item.reference and item.channel_ref)
    return item.kind == ReconciliationMismatch.Kind.MISSING_OURS and txn.kind in (
        Transaction.Kind.DEPOSIT,
        Transaction.Kind.WITHDRAWAL,
    )


def mismatch_settle(*, mismatch_id: int, actor, note: str = "", request=None) -> ReconciliationMismatch:
    """ "Missing on our side": the channel's statement says our deposit was paid (or our withdrawal
    paid out) but our record is not settled. Apply it through the same idempotent path as the
    callback and the active query (``deposit_settle`` / ``withdrawal_settle``), then close the
    item. The amount must match our order; a mismatch is refused (``amount_mismatch``).

    Locking: the transaction row first (inside the settle service), then the item."""
    from okwallet.payments.services import deposit_settle, withdrawal_settle

    note = _clean_note(note, required=False)
    item = ReconciliationMismatch.objects.select_related("transaction").filter(pk=mismatch_id).first()
    if item is None:
        raise NotFound("mismatch_not_found", _("No such reconciliation item."))
    if item.kind == ReconciliationMismatch.Kind.REFUND_OURS:
        return _book_missing_refund(item, actor=actor, note=note, request=request)
    txn = item.transaction
    if not is_settleable(item):
        raise OkError(
            "mismatch_not_settleable",
            _("Only a deposit or withdrawal of ours that the channel lists as paid can be settled here."),
            http_status=409,
        )
    with transaction.atomic():
        if txn.kind == Transaction.Kind.DEPOSIT:
            txn, applied = deposit_settle(
                reference=txn.reference,
                amount_fen=item.theirs_fen,
                channel_ref=item.channel_ref,
                source="reconciliation",
            )
        else:
            before = txn.status
            txn = withdrawal_settle(
                reference=txn.reference,
                success=True,
                amount_fen=item.theirs_fen,
                channel_ref=item.channel_ref,
                source="reconciliation",
            )
            applied = before == Transaction.Status.PENDING
        return _resolve_once(
            mismatch_id,
            actor=actor,
            resolution=ReconciliationMismatch.Resolution.CREDITED,
            note=note or ("settled from the statement" if applied else "was already settled"),
            request=request,
            action="payments.mismatch_settled",
            extra={"applied": applied, "amount_fen": item.theirs_fen, "status": txn.status},
        )


def _book_missing_refund(item, *, actor, note: str, request) -> ReconciliationMismatch:
    """The channel's statement lists a refund (or chargeback) of our deposit that we never booked
    (its notification was lost): book it through the notification's own once-only path
    (``reversal_from_channel``, keyed by the refund number), then close the item."""
    from okwallet.payments.reversals import reversal_from_channel

    if item.status == ReconciliationMismatch.Status.RESOLVED:
        return item
    if not is_settleable(item):
        raise OkError(
            "mismatch_not_settleable", _("This refund line lacks its amount or numbers."), http_status=409
        )
    with transaction.atomic():
        rev, applied = reversal_from_channel(
            reference=item.channel_ref,
            amount_fen=item.theirs_fen,
            refund_id=item.reference,
            reason="chargeback" if item.channel_kind == "CHARGEBACK" else "refund",
            channel=item.run.channel if item.run_id else "sandbox",
        )
        return _resolve_once(
            item.pk,
            actor=actor,
            resolution=ReconciliationMismatch.Resolution.REVERSED,
            note=note or ("refund booked from the statement" if applied else "was already booked"),
            request=request,
            action="payments.mismatch_refund_booked",
            extra={
                "applied": applied,
                "amount_fen": item.theirs_fen,
                "reversal": rev.reference,
                "status": rev.status,
            },
        )


def mismatch_ticket_open(*, mismatch_id: int, actor, request=None) -> str:
    """Open (once) a helpdesk ticket to chase an item with the channel; returns its number.
    Helpdesk is above payments, so this goes through the ``case_ticket_open`` hook."""
    from okwallet.core.hooks import collect

    item = ReconciliationMismatch.objects.select_related("transaction", "run").filter(pk=mismatch_id).first()
    if item is None:
        raise NotFound("mismatch_not_found", _("No such reconciliation item."))
    if item.ticket_number:
        return item.ticket_number
    txn = item.transaction
    facts = {
        "reference": item.reference,
        "mismatch": item.pk,
        "kind": item.kind,
        "ours_fen": item.ours_fen,
        "theirs_fen": item.theirs_fen,
        "channel_ref": item.channel_ref,
        "statement_date": item.run.statement_date.isoformat() if item.run_id else "",
        "customer": getattr(txn.user, "public_id", "") if txn is not None else "",
    }
    category = {
        Transaction.Kind.WITHDRAWAL: "withdrawal",
        Transaction.Kind.TRANSFER_OUT: "transfer",
        Transaction.Kind.TRANSFER_IN: "transfer",
    }.get(getattr(txn, "kind", ""), "deposit")
    subject = gettext("Reconciliation: %(kind)s %(ref)s") % {
        "kind": item.get_kind_display(),
        "ref": item.reference or item.channel_ref,
    }
    body = gettext(
        "Reconciliation item %(id)s (%(kind)s). Reference %(ref)s, channel reference %(cref)s. Ours: %(ours)s, channel's: %(theirs)s."
    ) % {
        "id": item.pk,
        "kind": item.get_kind_display(),
        "ref": item.reference or "-",
        "cref": item.channel_ref or "-",
        "ours": format_fen(item.ours_fen) if item.ours_fen is not None else "-",
        "theirs": format_fen(item.theirs_fen) if item.theirs_fen is not None else "-",
    }
    opened = collect(
        "case_ticket_open",
        category=category,
        subject=subject,
        body=body,
        actor=actor,
        source_ref=f"payments:mismatch:{item.pk}",
        facts=facts,
    )
    if not opened:
        raise OkError("helpdesk_unavailable", _("Tickets cannot be opened right now."), http_status=503)
    number = str(opened[0]["number"])
    with transaction.atomic():
        item = _locked_open(mismatch_id)
        if not item.ticket_number:
            item.ticket_number = number[:32]
            item.save(update_fields=["ticket_number"])
        audit_log_write(
            actor=actor,
            action="payments.mismatch_ticket",
            obj=item,
            request=request,
            details={"ticket": number, "reference": item.reference},
        )
    return item.ticket_number
