from datetime import datetime
from typing import Literal

from django.utils.translation import get_language
from ninja import Router, Schema

from okwallet.contact.selectors import contact_channels

router = Router(tags=["contact"])


class ChannelOut(Schema):
    kind: str
    value: str
    label: str
    text: str
    is_open: bool
    always_open: bool
    next_open: datetime | None
    next_close: datetime | None
    reply_promise_working_days: int | None


class ContactOut(Schema):
    channels: list[ChannelOut]


@router.get(
    "/contact",
    response=ContactOut,
    auth=None,
    summary="How to reach us, and whether each channel is open now",
)
def get_contact(request, kind: Literal["hotline", "chat", "email", "security"] | None = None):
    channels = contact_channels(lang=get_language() or "zh-hans")
    if kind:
        channels = [c for c in channels if c.kind == kind]
    return {
        "channels": [
            {
                "kind": c.kind,
                "value": c.value,
                "label": c.label,
                "text": c.text,
                "is_open": c.status.is_open,
                "always_open": c.status.always_open,
                "next_open": c.status.next_open,
                "next_close": c.status.next_close,
                "reply_promise_working_days": c.reply_promise_working_days,
            }
            for c in channels
        ]
    }
