"""The customer-row lock of freeze, unfreeze and closure is FOR NO KEY UPDATE on PostgreSQL: rows
that point at the customer (notifications, audit entries, security events) can still be written
by other transactions while it is held. FOR UPDATE blocked their foreign-key checks (FOR KEY SHARE),
the pattern that deadlocked the chat's accept (tests/chat/test_locking.py)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from okwallet.accounts import services
from okwallet.core.models import Notification

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_row_pointing_at_the_customer_is_written_while_a_freeze_holds_the_lock(alice):
    holding, release, results = threading.Event(), threading.Event(), []

    def freeze_and_hold():
        try:
            with transaction.atomic():
                services.account_freeze(user=alice, reason="lost phone", channel="web")
                holding.set()
                release.wait(10)  # the freeze's transaction stays open, its lock held
            results.append("frozen")
        finally:
            connection.close()

    other = threading.Thread(target=freeze_and_hold)
    other.start()
    assert holding.wait(10)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            # An insert whose foreign key points at the locked customer row.
            Notification.objects.create(
                user=alice, channel="email", kind="test", to_address="alice@example.com"
            )
        results.append("written")
    finally:
        release.set()
        other.join(30)
    assert results == ["written", "frozen"]
    alice.refresh_from_db()
    assert alice.frozen_at is not None
