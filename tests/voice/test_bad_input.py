"""Unsigned or wrongly signed requests, duplicates, unknown calls, stale and out-of-order events."""

from __future__ import annotations

from okwallet.voice.models import Call, WebhookEvent
from tests.voice.conftest import Phone


def test_missing_signature_is_refused_and_nothing_happens(phone):
    reply = phone.dial(sign=False)
    assert reply.status == 403
    assert not Call.objects.exists()
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED and not event.signature_valid
    assert phone.sid in event.body  # stored raw anyway, for the record


def test_wrong_signature_is_refused(phone):
    assert phone.dial(signature="bm90LXRoZS1zaWduYXR1cmU=").status == 403
    assert not Call.objects.exists()


def test_signature_made_with_another_token_is_refused(client, db, twilio_token, open_hours):
    intruder = Phone(client, token="someone-elses-token")
    assert intruder.dial().status == 403
    assert not Call.objects.exists()


def test_signature_for_other_parameters_is_refused(phone):
    """The digits are covered by the signature: tampering with them invalidates it."""
    from twilio.request_validator import RequestValidator

    from tests.voice.conftest import BASE, TOKEN

    phone.dial()
    url = phone.last.gather().get("action")
    signed = RequestValidator(TOKEN).compute_signature(BASE + url, phone.params(Digits="1"))
    reply = phone.post(url, signature=signed, Digits="3")
    assert reply.status == 403
    assert Call.objects.get(call_sid=phone.sid).node == "main_menu"


def test_no_auth_token_configured_refuses_everything(client, db, settings, open_hours):
    settings.OKWALLET_TWILIO_AUTH_TOKEN = ""
    assert Phone(client).dial().status == 403


def test_get_is_not_allowed(phone, client):
    assert client.get("/voice/twilio/incoming").status_code == 405


def test_duplicate_incoming_webhook_answers_the_same_and_creates_one_call(phone):
    first = phone.dial()
    second = phone.dial()
    assert second.content == first.content
    assert Call.objects.filter(call_sid=phone.sid).count() == 1
    assert WebhookEvent.objects.filter(kind="incoming").count() == 2  # both stored raw


def test_duplicate_digits_are_applied_once(phone):
    phone.dial()
    url = phone.last.gather().get("action")
    first = phone.post(url, Digits="1")
    second = phone.post(url, Digits="1")
    assert second.content == first.content
    call = Call.objects.get(call_sid=phone.sid)
    assert call.ivr_path.count("menu:1") == 1
    assert call.node == "deposit_ref"


def test_redelivery_with_other_digits_gets_the_first_answer(phone):
    phone.dial()
    stale = phone.last.gather().get("action")
    first = phone.press("2")  # now in the security menu
    again = phone.post(stale, Digits="3")  # same webhook (CallSid + node + seq), different digits
    assert again.content == first.content
    call = Call.objects.get(call_sid=phone.sid)
    assert call.topic == Call.Topic.SECURITY and call.queue == ""


def test_late_timeout_for_a_menu_the_caller_has_left_re_prompts_the_current_one(phone):
    phone.dial()
    stale_timeout = phone.last.root.find("Redirect").text
    phone.press("2")
    reply = phone.post(stale_timeout)
    assert "立即冻结账户，请按1" in reply.says()
    call = Call.objects.get(call_sid=phone.sid)
    assert call.node == "security_menu" and call.retries == 0
    assert call.events.filter(kind="stale_input").exists()


def test_input_for_an_unknown_call_starts_it_properly(phone):
    reply = phone.post("/voice/twilio/gather?node=main_menu&seq=5", Digits="1")
    assert reply.status == 200
    assert "欢迎致电" in reply.says() and reply.gather() is not None
    assert Call.objects.get(call_sid=phone.sid).node == "main_menu"


def test_hangup_before_answer_records_the_call_and_a_late_incoming_hangs_up(phone):
    phone.hang_up(duration=0)
    call = Call.objects.get(call_sid=phone.sid)
    assert call.status == Call.Status.ENDED and call.outcome == Call.Outcome.ABANDONED_IVR
    reply = phone.dial()
    assert reply.hangs_up()
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED and call.ivr_path == ["ended"]


def test_digits_after_the_call_ended_change_nothing(phone):
    phone.dial()
    url = phone.last.gather().get("action")
    phone.hang_up()
    reply = phone.post(url, Digits="1")
    assert reply.hangs_up()
    assert Call.objects.get(call_sid=phone.sid).topic == ""


def test_repeated_completed_status_ends_the_call_once(phone):
    phone.dial()
    phone.hang_up(duration=30)
    phone.hang_up(duration=31)
    call = Call.objects.get(call_sid=phone.sid)
    assert call.duration_s == 30
    assert call.events.filter(kind="ended").count() == 1


def test_unexpected_characters_in_digits_are_ignored(phone):
    phone.dial()
    reply = phone.press("<script>")
    assert "没有收到您的按键" in reply.says()


def test_missing_callsid_is_a_clear_error(phone):
    from twilio.request_validator import RequestValidator

    from tests.voice.conftest import BASE, TOKEN

    params = {"From": "+8613900000009"}
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/voice/twilio/incoming", params)
    response = phone.client.post("/voice/twilio/incoming", data=params, HTTP_X_TWILIO_SIGNATURE=sig)
    assert response.status_code == 400


def test_busy_or_failed_call_without_ivr_is_failed(phone):
    phone.hang_up(status="no-answer")
    assert Call.objects.get(call_sid=phone.sid).outcome == Call.Outcome.FAILED
