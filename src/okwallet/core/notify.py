"""The notifications outbox: write now, deliver after commit, retry on failure."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from okwallet.core.models import Notification

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6


def notification_send(
    *, channel: str, kind: str, body: str, user=None, to: str = "", subject: str = ""
) -> Notification:
    """Queue one message. Delivery is scheduled with ``transaction.on_commit`` so nothing is
    sent for a change that is rolled back."""
    if channel not in Notification.Channel.values:
        raise ValueError(f"unknown channel {channel!r}")
    if not to and user is not None:
        to = {"sms": getattr(user, "phone", "") or "", "email": getattr(user, "email", "") or ""}.get(
            channel, ""
        )
    note = Notification.objects.create(
        channel=channel, kind=kind, body=body, user=user, to_address=to, subject=subject[:200]
    )
    from okwallet.core.tasks import deliver_notification

    transaction.on_commit(lambda: deliver_notification(note.pk))
    return note


def get_backend(channel: str):
    return import_string(settings.OKWALLET_NOTIFY_BACKENDS[channel])()


def notification_deliver(notification_id: int) -> Notification | None:
    """Deliver one queued message once. Returns the row; raises on a backend failure so the job retries."""
    failure: Exception | None = None
    with transaction.atomic():
        note = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if note is None or note.status == Notification.Status.SENT:
            return note
        note.attempts += 1
        try:
            provider_id = get_backend(note.channel).send(note)
        except Exception as exc:  # the backend is outside our control; record, then retry
            failure = exc
            note.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            note.status = (
                Notification.Status.FAILED if note.attempts >= MAX_ATTEMPTS else Notification.Status.QUEUED
            )
            note.save(update_fields=["attempts", "last_error", "status"])
            log.warning("notification %s delivery failed (attempt %s): %s", note.pk, note.attempts, exc)
        else:
            note.status = Notification.Status.SENT
            note.provider_id = str(provider_id or "")[:120]
            note.sent_at = timezone.now()
            note.save(update_fields=["attempts", "status", "provider_id", "sent_at"])
    # Raised after the commit, so the failure is recorded and the job queue retries.
    if failure is not None and note.status == Notification.Status.QUEUED:
        raise failure
    return note
