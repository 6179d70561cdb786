"""Two dialler workers at once on PostgreSQL: ``FOR UPDATE SKIP LOCKED`` means neither waits for
the other and they never take the same callback nor ring the same agent."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from okwallet.voice import services, services_callbacks
from okwallet.voice.models import Call, CallbackAttempt, CallbackRequest
from tests.voice.conftest import OPEN_AT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _book(phone: str) -> CallbackRequest:
    call = Call.objects.create(call_sid=f"CAlock{phone[-6:]}", from_number=phone, started_at=OPEN_AT)
    return services.callback_request_create(call=call, at=OPEN_AT)


class Worker(threading.Thread):
    """A dialler worker that claims inside its own transaction and holds it until told to commit."""

    def __init__(self, release: threading.Event):
        super().__init__()
        self.release = release
        self.claimed = threading.Event()
        self.attempt = None
        self.seconds = None
        self.error = None

    def run(self):
        try:
            with transaction.atomic():
                start = time.monotonic()
                self.attempt = services_callbacks.callback_claim(now=OPEN_AT)
                self.seconds = time.monotonic() - start
                self.claimed.set()
                assert self.release.wait(10)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.claimed.set()
        finally:
            connection.close()


def test_two_workers_claim_two_different_callbacks_and_agents_without_waiting(agent, manager):
    services.agent_line_set(agent=agent, ready=True)
    services.agent_line_set(agent=manager, ready=True)
    first, second = _book("+8613900000101"), _book("+8613900000102")
    release = threading.Event()
    a, b = Worker(release), Worker(release)
    a.start()
    assert a.claimed.wait(10)  # a holds its locks (callback and agent line) ...
    b.start()
    assert b.claimed.wait(10)  # ... and b does not wait for them: it skips to the next ones
    release.set()
    a.join(10)
    b.join(10)
    assert a.error is None and b.error is None
    assert b.seconds < 2
    assert {a.attempt.callback_id, b.attempt.callback_id} == {first.pk, second.pk}
    assert {a.attempt.agent_id, b.attempt.agent_id} == {agent.pk, manager.pk}
    assert CallbackAttempt.objects.count() == 2
    assert set(CallbackRequest.objects.values_list("status", flat=True)) == {"dialling"}


def test_while_one_worker_holds_the_only_callback_the_other_gets_nothing(agent, manager):
    services.agent_line_set(agent=agent, ready=True)
    services.agent_line_set(agent=manager, ready=True)
    only = _book("+8613900000103")
    release = threading.Event()
    a, b = Worker(release), Worker(release)
    a.start()
    assert a.claimed.wait(10)
    b.start()
    assert b.claimed.wait(10)
    release.set()
    a.join(10)
    b.join(10)
    assert a.error is None and b.error is None
    assert a.attempt.callback_id == only.pk and b.attempt is None and b.seconds < 2
    only.refresh_from_db()
    assert only.status == "dialling" and only.attempts == 1  # claimed exactly once


def test_after_the_first_commits_the_callback_is_no_longer_due(agent, manager):
    services.agent_line_set(agent=agent, ready=True)
    services.agent_line_set(agent=manager, ready=True)
    _book("+8613900000104")
    assert services_callbacks.callback_claim_next(now=OPEN_AT) is not None
    assert services_callbacks.callback_claim_next(now=OPEN_AT) is None
    assert CallbackAttempt.objects.count() == 1
