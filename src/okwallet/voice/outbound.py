"""Placing outbound calls (callbacks) through a provider: the Twilio REST API or our sandbox.

The dialler asks ``provider().place_call(...)`` to ring the customer; when they answer, the
provider fetches ``url`` (our callback-connect TwiML, which bridges them to the agent) and
reports the leg's progress to ``status_callback``, both signed like every other webhook.

``OKWALLET_VOICE_OUTBOUND_PROVIDER``:

- ``sandbox`` (default): our own provider for development and tests. It checks the request
  the way Twilio does (E.164 ``to``/``from``, absolute http(s) URLs), returns a fresh
  ``CA…`` call SID, remembers the request in ``SandboxProvider.placed`` and never touches the
  network; the test (or a person with ``manage.py shell``) then plays the provider's part by
  posting signed webhooks to the URLs it was given.
- ``twilio``: ``twilio.rest.Client(account SID, auth token).calls.create(...)``.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Protocol

from okwallet.voice import conf

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class OutboundError(Exception):
    """The provider refused or could not take the call request."""


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    to: str
    from_: str
    url: str
    status_callback: str
    timeout_s: int
    status_events: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")
    extra: dict = field(default_factory=dict)


class OutboundProvider(Protocol):
    name: str

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout_s: int
    ) -> PlacedCall: ...


class SandboxProvider:
    """Our own provider: validates like Twilio, answers with a SID, never leaves the process."""

    name = "sandbox"
    placed: list[PlacedCall] = []
    _lock = threading.Lock()

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout_s: int
    ) -> PlacedCall:
        if not E164.match(to or ""):
            raise OutboundError(f"21211: invalid 'To' phone number {to!r}")
        if not E164.match(from_ or ""):
            raise OutboundError(f"21212: invalid 'From' phone number {from_!r}")
        for value in (url, status_callback):
            if not value.startswith(("http://", "https://")):
                raise OutboundError(f"21205: URL must be absolute: {value!r}")
        placed = PlacedCall(
            sid="CA" + secrets.token_hex(16),
            to=to,
            from_=from_,
            url=url,
            status_callback=status_callback,
            timeout_s=timeout_s,
        )
        with self._lock:
            self.placed.append(placed)
        return placed

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.placed.clear()


class TwilioProvider:
    name = "twilio"

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout_s: int
    ) -> PlacedCall:
        from twilio.base.exceptions import TwilioException
        from twilio.rest import Client

        account = conf.get("OKWALLET_TWILIO_ACCOUNT_SID") or ""
        token = conf.get("OKWALLET_TWILIO_AUTH_TOKEN") or ""
        if not account or not token:
            raise OutboundError("OKWALLET_TWILIO_ACCOUNT_SID and the auth token are required")
        events = ("initiated", "ringing", "answered", "completed")
        try:
            call = Client(account, token).calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=list(events),
                timeout=timeout_s,
            )
        except TwilioException as exc:
            raise OutboundError(str(exc)[:500]) from exc
        return PlacedCall(call.sid, to, from_, url, status_callback, timeout_s, events)


_PROVIDERS = {"sandbox": SandboxProvider, "twilio": TwilioProvider}


def provider() -> OutboundProvider:
    name = (conf.get("OKWALLET_VOICE_OUTBOUND_PROVIDER") or "sandbox").strip().lower()
    if name not in _PROVIDERS:
        raise OutboundError(f"unknown outbound provider {name!r}")
    return _PROVIDERS[name]()
