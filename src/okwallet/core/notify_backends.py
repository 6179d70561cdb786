"""Delivery backends for the notifications outbox.

An SMS provider plugs in by implementing one method::

    class MySmsBackend:
        def send(self, notification) -> str:   # returns the provider's message id
            ...                                 # raise on failure: the job retries

and pointing ``OKWALLET_SMS_BACKEND`` at its dotted path.
"""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone


class FileSmsBackend:
    """Appends each SMS as one JSON line to var/outbox-sms.jsonl (the default: no SMS gateway here)."""

    def send(self, notification) -> str:
        msg_id = uuid.uuid4().hex
        line = {
            "id": msg_id,
            "to": notification.to_address,
            "body": notification.body,
            "kind": notification.kind,
            "at": timezone.now().isoformat(),
        }
        path = settings.OKWALLET_SMS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        return msg_id


class ConsoleSmsBackend:
    def send(self, notification) -> str:
        print(f"[SMS to {notification.to_address}] {notification.body}")  # noqa: T201
        return uuid.uuid4().hex


class DjangoEmailBackend:
    """Sends through Django's configured EMAIL_BACKEND (file by default, SMTP in production)."""

    def send(self, notification) -> str:
        if not notification.to_address:
            raise ValueError("no email address")
        msg_id = f"<{uuid.uuid4().hex}@okwallet.notify>"
        message = EmailMessage(
            subject=notification.subject or "OK钱包通知 / OK Wallet notice",
            body=notification.body,
            to=[notification.to_address],
            headers={"Message-ID": msg_id, "Auto-Submitted": "auto-generated"},
        )
        message.send(fail_silently=False)
        return msg_id


class InAppBackend:
    """In-app messages are the outbox rows themselves; the app and portal list them."""

    def send(self, notification) -> str:
        return f"inapp-{notification.pk}"
