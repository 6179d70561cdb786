"""Retention: personal data in raw inbound records is kept only as long as it is needed.

Raw emails and voicemail recordings are evidence for a dispute, so they are kept for
``OKWALLET_RAW_EMAIL_RETENTION_DAYS`` / ``OKWALLET_RECORDING_RETENTION_DAYS`` (default 3 years)
and then their content is removed. The rows stay (blanked), so idempotency keys, ticket links and
counts survive; every run is written to the audit log. Closed accounts are anonymised by the
accounts app's own job after the anti-money-laundering period.
"""

from __future__ import annotations

import os
from datetime import timedelta

from django.db import transaction

from okwallet.core.audit import audit_log_write
from okwallet.core.timeutil import now_utc

DEFAULT_DAYS = 3 * 365


def _days(name: str) -> int:
    return int(os.environ.get(name, DEFAULT_DAYS))


def retention_purge(*, now=None) -> dict:
    """Blank raw email bytes and drop voicemail recording links older than their retention."""
    from okwallet.mail.models import RawMessage
    from okwallet.voice.models import Voicemail

    now = now or now_utc()
    email_cutoff = now - timedelta(days=_days("OKWALLET_RAW_EMAIL_RETENTION_DAYS"))
    recording_cutoff = now - timedelta(days=_days("OKWALLET_RECORDING_RETENTION_DAYS"))
    with transaction.atomic():
        emails = (
            RawMessage.objects.filter(received_at__lt=email_cutoff)
            .exclude(size=0)
            .update(raw=b"", size=0, html_sanitized="", text="")
        )
        recordings = (
            Voicemail.objects.filter(created_at__lt=recording_cutoff)
            .exclude(recording_url="")
            .update(recording_url="")
        )
        result = {"raw_emails_blanked": emails, "recordings_dropped": recordings}
        if emails or recordings:
            audit_log_write(
                action="retention.purge", object_type="ops.retention", object_id="", details=result
            )
    return result
