"""Scam reports: stored raw first, then a security-queue ticket when the helpdesk is installed."""

from __future__ import annotations

import logging
import secrets
from importlib.util import find_spec

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from okwallet.antifraud.models import ScamReport
from okwallet.antifraud.verifier import verify
from okwallet.core.audit import client_ip
from okwallet.core.errors import InvalidInput

log = logging.getLogger(__name__)


def _reference() -> str:
    return "SR" + "".join(secrets.choice("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _i in range(8))


def scam_report_create(
    *,
    kind: str,
    value: str = "",
    message: str = "",
    lost_money: bool = False,
    reporter=None,
    reporter_contact: str = "",
    request=None,
) -> ScamReport:
    raw = {
        "kind": kind,
        "value": value,
        "message": message,
        "lost_money": lost_money,
        "reporter_contact": reporter_contact,
    }
    if kind not in ScamReport.Kind.values:
        raise InvalidInput("invalid_kind", _("Choose what you are reporting."))
    value = (value or "").strip()[:500]
    message = (message or "").strip()[:5000]
    if not value and not message:
        raise InvalidInput("report_empty", _("Enter the number, link or address, or paste the message."))
    if reporter is not None and not getattr(reporter, "is_authenticated", False):
        reporter = None
    with transaction.atomic():
        report = ScamReport.objects.create(
            kind=kind,
            value=value,
            message=message,
            lost_money=bool(lost_money),
            reporter=reporter,
            reporter_contact=(reporter_contact or "").strip()[:200],
            raw=raw,
            ip=client_ip(request),
            official_match=bool(value) and verify(value).official,
            reference=_reference(),
        )
        transaction.on_commit(lambda: scam_report_ticket(report_id=report.pk))
    return report


def scam_report_ticket(*, report_id: int) -> str:
    """Open (idempotently) the security-queue ticket for a report; '' when helpdesk is absent."""
    report = ScamReport.objects.filter(pk=report_id).first()
    if report is None or report.ticket_number:
        return report.ticket_number if report else ""
    if find_spec("okwallet.helpdesk.services") is None:
        return ""
    try:
        from okwallet.helpdesk.services import ticket_create

        body = "\n".join(
            filter(
                None,
                [
                    f"Report {report.reference} ({report.get_kind_display()})",
                    f"Value: {report.value}" if report.value else "",
                    f"Money lost: {'yes' if report.lost_money else 'no'}",
                    f"Matches an official channel: {'yes' if report.official_match else 'no'}",
                    "",
                    report.message,
                ],
            )
        )
        ticket = ticket_create(
            channel="web",
            category="security",
            subject=f"Scam report {report.reference}: {report.value[:60] or report.get_kind_display()}",
            body=body,
            customer=report.reporter,
            requester_phone=report.reporter_contact
            if report.reporter_contact[:1].isdigit() or report.reporter_contact.startswith("+")
            else "",
            requester_email=report.reporter_contact if "@" in report.reporter_contact else "",
            source_ref=f"scam-report:{report.reference}",
            facts={
                "scam_report": report.reference,
                "kind": report.kind,
                "value": report.value,
                "lost_money": report.lost_money,
            },
        )
    except Exception:  # the report is safely stored; the ticket can be opened again from admin
        log.exception("could not open a ticket for scam report %s", report.reference)
        return ""
    number = getattr(ticket, "number", "") or ""
    ScamReport.objects.filter(pk=report.pk).update(ticket_number=number, status=ScamReport.Status.TICKETED)
    return number
