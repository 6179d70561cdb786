"""Email channel settings: Django settings first, then the environment, then defaults."""

from __future__ import annotations

import os
from email.utils import parseaddr

from django.conf import settings


def setting(name: str, default):
    if hasattr(settings, name):
        return getattr(settings, name)
    raw = os.environ.get(name)
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, tuple | list):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    return raw


def support_address() -> str:
    """The address customers write to and our mail comes from."""
    return setting("OKWALLET_MAIL_ADDRESS", "") or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def from_header() -> str:
    return setting("OKWALLET_MAIL_FROM", "") or settings.DEFAULT_FROM_EMAIL


def our_addresses() -> set[str]:
    found = {support_address().lower()}
    found.update(a.lower() for a in setting("OKWALLET_MAIL_OUR_ADDRESSES", ()))
    return {a for a in found if a}


def message_id_domain() -> str:
    address = support_address()
    return setting("OKWALLET_MAIL_MESSAGE_ID_DOMAIN", "") or (
        address.rsplit("@", 1)[1] if "@" in address else "okwallet.example"
    )


def sender_limit() -> tuple[int, int]:
    """(messages, window seconds) per sender before further mail is held for an agent."""
    return setting("OKWALLET_MAIL_SENDER_LIMIT", 30), setting("OKWALLET_MAIL_SENDER_WINDOW_S", 3600)


def ack_working_days() -> int:
    return setting("OKWALLET_MAIL_ACK_WORKING_DAYS", 2)


def max_attachment_bytes() -> int:
    return setting("OKWALLET_MAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)


def max_total_bytes() -> int:
    return setting("OKWALLET_MAIL_MAX_TOTAL_BYTES", 25 * 1024 * 1024)
