"""Contact channels with their live open/closed state, for pages, the API and the IVR."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache

from okwallet.contact.models import ContactChannel
from okwallet.hours.selectors import ChannelStatus, channel_status

CACHE_KEY = "contact:channels:v1"


@dataclass(frozen=True)
class ContactInfo:
    kind: str
    value: str
    label: str
    text: str
    schedule: str
    reply_promise_working_days: int | None
    status: ChannelStatus


def _rows() -> list[dict]:
    rows = cache.get(CACHE_KEY)
    if rows is None:
        rows = list(
            ContactChannel.objects.filter(enabled=True).values(
                "kind",
                "value",
                "schedule",
                "label_zh",
                "label_en",
                "text_zh",
                "text_en",
                "reply_promise_working_days",
                "order",
            )
        )
        cache.set(CACHE_KEY, rows, 60)
    return rows


def contact_channels(*, lang: str = "zh-hans", at: datetime | None = None) -> list[ContactInfo]:
    english = lang.startswith("en")
    return [
        ContactInfo(
            kind=row["kind"],
            value=row["value"],
            label=row["label_en"] if english else row["label_zh"],
            text=row["text_en"] if english else row["text_zh"],
            schedule=row["schedule"],
            reply_promise_working_days=row["reply_promise_working_days"],
            status=channel_status(row["schedule"], at=at),
        )
        for row in _rows()
    ]


def channel_values(kind: str) -> list[str]:
    """The values (numbers, addresses) of the enabled channels of ``kind``, from the cached rows."""
    return [row["value"] for row in _rows() if row["kind"] == kind and row["value"]]


def hotline_numbers() -> list[str]:
    return [row["value"] for row in _rows() if row["kind"] == ContactChannel.Kind.HOTLINE and row["value"]]


def contact_cache_clear() -> None:
    cache.delete(CACHE_KEY)
