"""Accounts settings with their defaults (override any in settings.py or the environment)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # People's Bank of China payment-account classes: limit in fen and the period it covers.
    "OKWALLET_PAYMENT_CLASSES": {
        "I": {"limit_fen": 100_000, "period": "lifetime", "min_sources": 1},
        "II": {"limit_fen": 10_000_000, "period": "year", "min_sources": 3},
        "III": {"limit_fen": 20_000_000, "period": "year", "min_sources": 5},
    },
    "OKWALLET_IDENTITY_PROVIDER": "okwallet.accounts.identity.sandbox.SandboxProvider",
    # One provider per self-service verification source (okwallet.accounts.identity); a source
    # set to None cannot be added here. Merged key by key with the setting.
    "OKWALLET_SOURCE_PROVIDERS": {
        "carrier": "okwallet.accounts.identity.sandbox.SandboxCarrierProvider",
        "social_security": "okwallet.accounts.identity.sandbox.SandboxSocialSecurityProvider",
        "face": "okwallet.accounts.identity.sandbox.SandboxFaceProvider",
    },
    "OKWALLET_SOURCE_CHECKS_PER_HOUR": 10,  # per customer, all sources together
    "OKWALLET_CODE_TTL_SECONDS": 300,
    "OKWALLET_CODE_MAX_TRIES": 5,
    "OKWALLET_CODE_SENDS_PER_MINUTE": 1,
    "OKWALLET_CODE_SENDS_PER_DAY": 10,
    "OKWALLET_LOGIN_FAILS_PER_ACCOUNT": 5,  # per 15 minutes, then locked for the rest of the window
    "OKWALLET_LOGIN_FAILS_PER_IP": 30,
    "OKWALLET_LOGIN_LOCK_SECONDS": 900,
    "OKWALLET_STEP_UP_SECONDS": 300,
    "OKWALLET_CLOSURE_COOLING_OFF_DAYS": 7,
    "OKWALLET_RETENTION_YEARS": 5,
    "OKWALLET_NETWORK_MEMORY_DAYS": 90,
    "OKWALLET_PASSWORD_HISTORY": 5,
    # A session's "last active" time and IP are written at most once per this many seconds.
    "OKWALLET_SESSION_ACTIVITY_SECONDS": 300,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def rl(key: str) -> str:
    """A rate-limit key in this deployment's namespace (tests give each test its own)."""
    namespace = getattr(settings, "OKWALLET_RATELIMIT_NAMESPACE", "")
    return f"{namespace}:{key}" if namespace else key
