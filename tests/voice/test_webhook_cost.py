"""What a webhook costs, over whole calls: an upper bound on SQL statements per webhook, and the
rule that makes the bound honest — the raw row is committed before processing starts.

Transactional tests (autocommit, as in production): inside the usual test transaction every
``atomic`` would be a savepoint and the counts would not be the ones a real request makes.
"""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from okwallet.voice import webhooks
from okwallet.voice.models import WebhookEvent
from scripts.voice_webhook_cost import measure
from tests.voice.conftest import BASE, TOKEN

pytestmark = pytest.mark.django_db(transaction=True)

# Measured 2026-12-01: 8.9 statements per webhook before (raw row in BEGIN/INSERT/COMMIT, every
# event its own INSERT, every column of the call written back, a contact query per call), 6.9
# after. The bound leaves a little room; a change that adds a statement to every webhook fails.
MAX_MEAN = 7.2
MAX_BY_KIND = {"incoming": 8, "gather": 7, "wait": 7, "status": 7}


@pytest.fixture
def hotline_open(settings, twilio_token):
    settings.OKWALLET_VOICE_HOURS_OVERRIDE = "open"


def test_statements_per_webhook_stay_under_the_bound(client, hotline_open):
    measure(client, calls=2, token=TOKEN)  # warm the caches (contact rows, hours, agents)
    result = measure(client, calls=12, token=TOKEN)
    assert result.webhooks == 72
    assert result.mean_statements() <= MAX_MEAN, {k: result.mean_statements(k) for k in result.kinds()}
    for kind, bound in MAX_BY_KIND.items():
        assert result.mean_statements(kind) <= bound, (kind, result.mean_statements(kind))


def test_the_raw_row_is_committed_before_processing_starts(hotline_open):
    """While ``process`` runs, another connection already sees the raw request."""
    seen = {}

    def process(call_sid: str, params: dict) -> str:
        def look():
            from django.db import connections

            try:
                seen["rows"] = list(
                    WebhookEvent.objects.filter(call_sid=call_sid).values_list("kind", "status", "body")
                )
            finally:
                connections.close_all()

        other = threading.Thread(target=look)
        other.start()
        other.join(10)
        return '<?xml version="1.0" encoding="UTF-8"?><Response />'

    params = {"CallSid": "CA" + "7" * 32, "From": "+8613900000001", "To": "+864008206655"}
    path = "/voice/twilio/incoming"
    request = RequestFactory().post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=RequestValidator(TOKEN).compute_signature(BASE + path, params),
    )
    assert not connection.in_atomic_block
    response = webhooks.handle(request, kind="incoming", dedupe=lambda p: "probe", process=process)
    assert response.status_code == 200
    ((kind, status, body),) = seen["rows"]
    assert (kind, status) == ("incoming", "received") and "CallSid=CA7777" in body
    assert WebhookEvent.objects.get(call_sid=params["CallSid"]).status == "processed"
