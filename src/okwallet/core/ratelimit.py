"""Fixed-window rate limits shared by every app process.

Counters live in Redis when REDIS_URL is configured, otherwise in the database.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from okwallet.core.errors import RateLimited
from okwallet.core.models import RateCounter


def _redis():
    from okwallet.core import redis_client

    return redis_client.get()


def hit(key: str, *, limit: int, window_seconds: int, now: float | None = None) -> tuple[bool, int]:
    """Count one event for ``key``; return (allowed, seconds until the window resets)."""
    now = time.time() if now is None else now
    window_start = int(now // window_seconds) * window_seconds
    retry_after = int(window_start + window_seconds - now) + 1
    if settings.REDIS_URL:
        client = _redis()
        rkey = f"okw:rl:{key}:{window_start}"
        pipe = client.pipeline()
        pipe.incr(rkey)
        pipe.expire(rkey, window_seconds + 5)
        count, _ = pipe.execute()
    else:
        count = _db_incr(key, window_start)
    return count <= limit, retry_after


def _db_incr(key: str, window_start: int) -> int:
    with transaction.atomic():
        updated = RateCounter.objects.filter(key=key, window_start=window_start).update(count=F("count") + 1)
        if not updated:
            try:
                with transaction.atomic():
                    RateCounter.objects.create(key=key, window_start=window_start, count=1)
            except IntegrityError:
                RateCounter.objects.filter(key=key, window_start=window_start).update(count=F("count") + 1)
        return RateCounter.objects.get(key=key, window_start=window_start).count


def peek(key: str, *, window_seconds: int, now: float | None = None) -> int:
    now = time.time() if now is None else now
    window_start = int(now // window_seconds) * window_seconds
    if settings.REDIS_URL:
        value = _redis().get(f"okw:rl:{key}:{window_start}")
        return int(value or 0)
    row = RateCounter.objects.filter(key=key, window_start=window_start).first()
    return row.count if row else 0


def reset(key: str, *, window_seconds: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    window_start = int(now // window_seconds) * window_seconds
    if settings.REDIS_URL:
        _redis().delete(f"okw:rl:{key}:{window_start}")
    else:
        RateCounter.objects.filter(key=key, window_start=window_start).delete()


def enforce(key: str, *, limit: int, window_seconds: int) -> None:
    allowed, retry_after = hit(key, limit=limit, window_seconds=window_seconds)
    if not allowed:
        raise RateLimited(retry_after)
