import os

import pytest


def test_healthz_says_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.redis
def test_readyz_checks_redis_when_configured(client, db, settings):
    from okwallet.core import redis_client

    settings.REDIS_URL = os.environ["OKWALLET_TEST_REDIS_URL"]
    redis_client._client = None
    assert client.get("/readyz").json()["checks"]["redis"] == "ok"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    redis_client._client = None
    response = client.get("/readyz")
    redis_client._client = None
    assert response.status_code == 503 and response.json()["checks"]["redis"].startswith("error")


@pytest.mark.postgres
def test_the_suite_really_runs_on_postgresql(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_security_headers_are_set(client, db):
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]


def test_readyz_says_warming_until_start_up_work_is_done(client, db):
    from okwallet.core import readiness

    readiness.begin("test-index")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "warming" and "test-index" in response.json()["warming"]
    finally:
        readiness.done("test-index")
    assert client.get("/readyz").status_code == 200


def test_a_failed_warm_up_does_not_keep_the_process_out_of_rotation(client, db):
    from okwallet.core import readiness

    thread = readiness.in_background("broken", lambda: 1 / 0)
    thread.join(5)
    assert "broken" not in readiness.pending()
    assert client.get("/readyz").status_code == 200


def test_the_heap_is_frozen_once_start_up_work_is_done():
    import gc

    from okwallet.core import readiness

    gc.unfreeze()
    readiness.begin("slow-start")
    readiness.freeze_heap_when_warm()
    assert gc.get_freeze_count() == 0  # still warming: nothing frozen yet
    readiness.done("slow-start")
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
