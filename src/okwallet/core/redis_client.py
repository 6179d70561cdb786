"""One Redis connection pool per process, for counters and health checks."""

from __future__ import annotations

import redis
from django.conf import settings

_client: redis.Redis | None = None


def get() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _client
