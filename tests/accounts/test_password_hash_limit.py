"""Argon2 checks are bounded per process: a burst beyond the limit is told to retry (503), not
queued behind a gigabyte of hashes while it holds database connections."""

import threading

import pytest

from okwallet.accounts import hashers
from okwallet.core.errors import ServiceUnavailable

ARGON2_ONLY = ["okwallet.accounts.hashers.BoundedArgon2PasswordHasher"]


@pytest.fixture
def one_slot(monkeypatch, settings):
    settings.PASSWORD_HASHERS = ARGON2_ONLY
    monkeypatch.setenv("OKWALLET_PASSWORD_HASH_WAIT_S", "0.2")
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(hashers, "_slots", slots)
    return slots


def test_existing_argon2_hashes_still_verify(settings):
    # The bounded hasher keeps Django's algorithm name: a hash made by the stock hasher verifies.
    from django.contrib.auth.hashers import Argon2PasswordHasher, check_password

    encoded = Argon2PasswordHasher().encode("Lantern-river-77", Argon2PasswordHasher().salt())
    settings.PASSWORD_HASHERS = ARGON2_ONLY
    assert encoded.startswith("argon2$")
    assert check_password("Lantern-river-77", encoded)
    assert not check_password("Lantern-river-78", encoded)


def test_login_beyond_the_limit_is_503_with_retry_after_then_works(api, alice, one_slot):
    alice.set_password("Lantern-river-77")
    alice.save(update_fields=["password"])
    assert alice.password.startswith("argon2$")
    assert one_slot.acquire(timeout=1)  # another request of this process is hashing
    try:
        busy = api.post("/auth/token", {"identifier": alice.phone, "password": "Lantern-river-77"})
    finally:
        one_slot.release()
    assert busy.status_code == 503
    assert busy.json()["code"] == "unavailable" and busy.headers["Retry-After"] == "2"
    ok = api.post("/auth/token", {"identifier": alice.phone, "password": "Lantern-river-77"})
    assert ok.status_code == 201, ok.content


def test_no_more_hashes_than_slots_run_at_once(monkeypatch, settings):
    settings.PASSWORD_HASHERS = ARGON2_ONLY
    monkeypatch.setenv("OKWALLET_PASSWORD_HASH_WAIT_S", "30")
    monkeypatch.setattr(hashers, "_slots", threading.BoundedSemaphore(2))
    from django.contrib.auth.hashers import make_password

    running = 0
    peak = 0
    lock = threading.Lock()
    real_encode = hashers.Argon2PasswordHasher.encode

    def counting_encode(self, password, salt):  # the real hash, counted while it runs
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_encode(self, password, salt)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(hashers.Argon2PasswordHasher, "encode", counting_encode)
    results = []
    threads = [threading.Thread(target=lambda: results.append(make_password(f"pw-{i}"))) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and all(r.startswith("argon2$") for r in results)
    assert peak == 2


def test_waiting_past_the_limit_raises_service_unavailable(one_slot):
    assert one_slot.acquire(timeout=1)
    try:
        with pytest.raises(ServiceUnavailable), hashers.hashing_slot():
            pass  # pragma: no cover - never reached
    finally:
        one_slot.release()
