"""Hotline settings: Django settings first, then the environment, then defaults.

| setting / environment variable | meaning |
|---|---|
| OKWALLET_TWILIO_AUTH_TOKEN / TWILIO_AUTH_TOKEN | validates X-Twilio-Signature (no token → every webhook is refused) |
| OKWALLET_VOICE_PUBLIC_URL | the public base URL Twilio calls (https://host), when behind a proxy |
| OKWALLET_VOICE_CTI_SECRET | HMAC secret of the generic CTI webhook API |
| OKWALLET_VOICE_CALLBACK_OFFER_SECONDS | offer a callback when the estimated wait passes this (180) |
| OKWALLET_VOICE_PRIORITY_AGE | callers this old or older skip the menu (60) |
| OKWALLET_VOICE_OUTBOUND_CALLER_IDS | comma-separated numbers our callbacks come from |
| OKWALLET_VOICE_HOLD_MUSIC_URL | hold music; silence when empty |
| OKWALLET_VOICE_HOURS_OVERRIDE | operations switch: `open` or `closed` overrides the hotline schedule (e.g. an emergency closure); empty = follow the schedule |
| OKWALLET_VOICE_OUTBOUND_PROVIDER | who places callback calls: `sandbox` (default, no network) or `twilio` |
| OKWALLET_TWILIO_ACCOUNT_SID / TWILIO_ACCOUNT_SID | the account the `twilio` provider places calls on |
| OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS | unanswered callback legs before a callback is failed (3) |
| OKWALLET_VOICE_CALLBACK_BACKOFF_S | wait before the 2nd leg; doubled for each further one (900) |
| OKWALLET_VOICE_CALLBACK_RING_S | how long the customer's phone rings (30) and the agent's (20) |
"""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS = {
    "OKWALLET_TWILIO_AUTH_TOKEN": ("TWILIO_AUTH_TOKEN", ""),
    "OKWALLET_VOICE_PUBLIC_URL": ("OKWALLET_VOICE_PUBLIC_URL", ""),
    "OKWALLET_VOICE_CTI_SECRET": ("OKWALLET_VOICE_CTI_SECRET", ""),
    "OKWALLET_VOICE_CALLBACK_OFFER_SECONDS": ("OKWALLET_VOICE_CALLBACK_OFFER_SECONDS", 180),
    "OKWALLET_VOICE_PRIORITY_AGE": ("OKWALLET_VOICE_PRIORITY_AGE", 60),
    "OKWALLET_VOICE_VERIFY_LIMIT": ("OKWALLET_VOICE_VERIFY_LIMIT", 5),
    "OKWALLET_VOICE_DEFAULT_HANDLE_S": ("OKWALLET_VOICE_DEFAULT_HANDLE_S", 300),
    "OKWALLET_VOICE_HOLD_MUSIC_URL": ("OKWALLET_VOICE_HOLD_MUSIC_URL", ""),
    "OKWALLET_VOICE_OUTBOUND_CALLER_IDS": ("OKWALLET_VOICE_OUTBOUND_CALLER_IDS", ""),
    "OKWALLET_VOICE_RECORDINGS": (None, {}),
    "OKWALLET_VOICE_HOURS_OVERRIDE": ("OKWALLET_VOICE_HOURS_OVERRIDE", ""),
    "OKWALLET_VOICE_OUTBOUND_PROVIDER": ("OKWALLET_VOICE_OUTBOUND_PROVIDER", "sandbox"),
    "OKWALLET_TWILIO_ACCOUNT_SID": ("TWILIO_ACCOUNT_SID", ""),
    "OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS": ("OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS", 3),
    "OKWALLET_VOICE_CALLBACK_BACKOFF_S": ("OKWALLET_VOICE_CALLBACK_BACKOFF_S", 900),
    "OKWALLET_VOICE_CALLBACK_RING_S": ("OKWALLET_VOICE_CALLBACK_RING_S", 30),
}


def get(name: str):
    value = getattr(settings, name, None)
    if value is not None:
        return value
    env_name, default = DEFAULTS[name]
    raw = os.environ.get(env_name) if env_name else None
    if raw is None:
        return default
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            return default
    return raw
