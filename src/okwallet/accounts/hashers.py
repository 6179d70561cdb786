"""Argon2 with a per-process limit on concurrent hashes.

One Argon2id hash with Django's parameters takes ~100 MiB and most of a core for a second. A burst
of password checks (a credential-stuffing wave, or everyone logging in after an outage) used to run
them all at once: a gigabyte of RSS per app process, every core busy, and every request holding its
pooled database connection while it hashed, so unrelated requests of that process timed out waiting
for the pool (bench/soak.py found it). Now at most ``OKWALLET_PASSWORD_HASH_CONCURRENCY`` hashes run
per process (default: the number of cores); the others wait up to ``OKWALLET_PASSWORD_HASH_WAIT_S``
and then get 503 ``unavailable`` with Retry-After, which clients retry. While a request hashes or
waits, its pooled PostgreSQL connection goes back to the pool (outside a transaction only), so a
burst of logins no longer starves the rest of the traffic.

The algorithm name stays ``argon2``: existing hashes verify unchanged.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connections

from okwallet.core.errors import ServiceUnavailable


def _concurrency() -> int:
    try:
        return max(1, int(os.environ.get("OKWALLET_PASSWORD_HASH_CONCURRENCY", "")))
    except ValueError:
        return max(1, os.cpu_count() or 1)


def _wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("OKWALLET_PASSWORD_HASH_WAIT_S", "5")))
    except ValueError:
        return 5.0


_slots = threading.BoundedSemaphore(_concurrency())


def release_pooled_connections() -> int:
    """Give pooled connections back to the pool while this thread does no database work.

    Only connections from a psycopg pool and outside a transaction: closing a pooled connection
    returns it to the pool (Django reconnects on the next query), whereas closing a plain connection
    would cost a reconnect, and closing inside ``atomic`` would break the transaction."""
    released = 0
    for conn in connections.all(initialized_only=True):
        pooled = bool((conn.settings_dict.get("OPTIONS") or {}).get("pool"))
        if pooled and conn.connection is not None and not conn.in_atomic_block:
            conn.close()
            released += 1
    return released


@contextmanager
def hashing_slot():
    release_pooled_connections()
    if not _slots.acquire(timeout=_wait_seconds()):
        raise ServiceUnavailable(retry_after=2, details={"reason": "password_checks_busy"})
    try:
        yield
    finally:
        _slots.release()


class BoundedArgon2PasswordHasher(Argon2PasswordHasher):
    algorithm = "argon2"

    def encode(self, password, salt):
        with hashing_slot():
            return super().encode(password, salt)

    def verify(self, password, encoded):
        with hashing_slot():
            return super().verify(password, encoded)

    def harden_runtime(self, password, encoded):
        with hashing_slot():
            return super().harden_runtime(password, encoded)
