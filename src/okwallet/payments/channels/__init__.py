"""Payment channel adapters behind one interface (``base.Channel``); ``get_channel(code)``."""

from __future__ import annotations

from functools import cache

from okwallet.payments.channels.base import Channel, ChannelError, Notification, OrderStatus


@cache
def get_channel(code: str = "sandbox") -> Channel:
    if code == "sandbox":
        from okwallet.payments.channels.sandbox import SandboxChannel

        return SandboxChannel()
    raise ChannelError("unknown_channel", f"unknown channel {code!r}")


__all__ = ["Channel", "ChannelError", "Notification", "OrderStatus", "get_channel"]
