"""The generic CTI webhook API (HMAC-signed JSON) a PBX such as Asterisk or FreeSWITCH uses."""

from __future__ import annotations

import json
import time

import pytest

from okwallet.voice.api import cti_signature
from okwallet.voice.models import Call, WebhookEvent

SECRET = "cti-test-secret"
URL = "/api/v1/voice/cti/events"


@pytest.fixture
def cti(client, settings, db):
    settings.OKWALLET_VOICE_CTI_SECRET = SECRET

    def send(payload: dict, *, secret: str = SECRET, timestamp: int | None = None, signed: bool = True):
        body = json.dumps(payload).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"HTTP_X_OKW_TIMESTAMP": ts}
        if signed:
            headers["HTTP_X_OKW_SIGNATURE"] = cti_signature(secret, ts, body)
        return client.post(URL, data=body, content_type="application/json", **headers)

    return send


def test_new_call_answer_hangup_make_a_complete_call_log(cti, agent, alice):
    assert (
        cti({"event": "new_call", "call_id": "pbx-1", "from": "13800000001", "to": "4008206655"}).status_code
        == 200
    )
    cti({"event": "ivr", "call_id": "pbx-1", "node": "main_menu", "digits": "1"})
    cti({"event": "queued", "call_id": "pbx-1", "queue": "deposits"})
    answered = cti({"event": "answer", "call_id": "pbx-1", "agent": "zhou"})
    assert answered.json()["call_status"] == "connected"
    ended = cti({"event": "hangup", "call_id": "pbx-1", "duration_s": 95})
    assert ended.json() == {
        "status": "processed",
        "call_id": "pbx-1",
        "call_status": "ended",
        "outcome": "answered",
        "reason": "",
    }
    call = Call.objects.get(call_sid="cti:pbx-1")
    assert call.customer == alice and call.agent == agent and call.duration_s == 95
    assert call.queue == "deposits" and call.digits[0]["digits"] == "1"


def test_hangup_before_answer_then_a_late_answer_is_ignored(cti, agent):
    cti({"event": "new_call", "call_id": "pbx-2", "from": "13900000002"})
    cti({"event": "queued", "call_id": "pbx-2", "queue": "person"})
    cti({"event": "hangup", "call_id": "pbx-2"})
    late = cti({"event": "answer", "call_id": "pbx-2", "agent": "zhou"})
    assert late.status_code == 200
    assert late.json()["status"] == "ignored" and late.json()["reason"] == "call_ended"
    call = Call.objects.get(call_sid="cti:pbx-2")
    assert call.outcome == Call.Outcome.ABANDONED_QUEUE and call.answered_at is None


def test_hangup_for_a_call_never_announced_is_still_recorded(cti):
    response = cti({"event": "hangup", "call_id": "pbx-3"})
    assert response.status_code == 200
    assert Call.objects.get(call_sid="cti:pbx-3").status == Call.Status.ENDED


def test_answer_for_an_unknown_call_is_404_in_the_error_shape(cti):
    response = cti({"event": "answer", "call_id": "nope", "agent": "zhou"})
    assert response.status_code == 404
    assert response.json()["code"] == "call_not_found"


def test_duplicate_event_is_a_no_op(cti):
    cti({"event": "new_call", "call_id": "pbx-4", "from": "13900000004"})
    first = cti({"event": "hangup", "call_id": "pbx-4", "sequence": 7, "duration_s": 10})
    again = cti({"event": "hangup", "call_id": "pbx-4", "sequence": 7, "duration_s": 99})
    assert first.json()["status"] == "processed" and again.json()["status"] == "duplicate"
    assert Call.objects.get(call_sid="cti:pbx-4").duration_s == 10


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"signed": False}, "cti_signature_missing"),
        ({"secret": "wrong"}, "cti_signature_invalid"),
        ({"timestamp": int(time.time()) - 3600}, "cti_signature_invalid"),
    ],
)
def test_unsigned_wrongly_signed_or_stale_requests_are_refused(cti, kwargs, code):
    response = cti({"event": "new_call", "call_id": "pbx-5"}, **kwargs)
    assert response.status_code == 403
    assert response.json()["code"] == code
    assert not Call.objects.exists()
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.REJECTED


def test_invalid_body_is_422(cti):
    response = cti({"event": "teleport", "call_id": "pbx-6"})
    assert response.status_code == 422
    assert set(response.json()) == {"code", "message", "details"}


def test_no_secret_configured_refuses_everything(client, settings, db):
    settings.OKWALLET_VOICE_CTI_SECRET = ""
    body = b'{"event": "new_call", "call_id": "x"}'
    ts = str(int(time.time()))
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_OKW_TIMESTAMP=ts,
        HTTP_X_OKW_SIGNATURE=cti_signature("", ts, body),
    )
    assert response.status_code == 403


def test_several_ivr_steps_without_sequence_numbers_are_all_kept(cti):
    cti({"event": "new_call", "call_id": "pbx-7", "from": "13900000007"})
    cti({"event": "ivr", "call_id": "pbx-7", "node": "main_menu", "digits": "2"})
    cti({"event": "ivr", "call_id": "pbx-7", "node": "security_menu", "digits": "2"})
    again = cti({"event": "ivr", "call_id": "pbx-7", "node": "security_menu", "digits": "2"})
    assert again.json()["status"] == "duplicate"
    call = Call.objects.get(call_sid="cti:pbx-7")
    assert [d["digits"] for d in call.digits] == ["2", "2"]
