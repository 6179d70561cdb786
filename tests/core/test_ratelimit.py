import pytest

from okwallet.core import ratelimit
from okwallet.core.errors import RateLimited


def _exercise_window():
    now = 1_000_000.0
    results = [ratelimit.hit("login:alice", limit=3, window_seconds=60, now=now)[0] for _ in range(5)]
    assert results == [True, True, True, False, False]
    allowed, retry_after = ratelimit.hit("login:alice", limit=3, window_seconds=60, now=now + 61)
    assert allowed and 0 < retry_after <= 61
    assert ratelimit.peek("login:alice", window_seconds=60, now=now) == 5


def test_database_counters_limit_within_a_window(db, settings):
    settings.REDIS_URL = ""
    _exercise_window()


@pytest.mark.redis
def test_redis_counters_limit_within_a_window(db, settings):
    import os

    settings.REDIS_URL = os.environ["OKWALLET_TEST_REDIS_URL"]
    from okwallet.core import redis_client

    redis_client._client = None
    ratelimit.reset("login:alice", window_seconds=60, now=1_000_000.0)
    ratelimit.reset("login:alice", window_seconds=60, now=1_000_061.0)
    _exercise_window()


def test_enforce_raises_with_retry_after(db, settings):
    settings.REDIS_URL = ""
    for _ in range(2):
        ratelimit.enforce("k", limit=2, window_seconds=30)
    with pytest.raises(RateLimited) as err:
        ratelimit.enforce("k", limit=2, window_seconds=30)
    assert err.value.http_status == 429 and int(err.value.headers["Retry-After"]) >= 1
