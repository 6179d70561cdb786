"""Outside hours: reopening time, voicemail → ticket, callback requests; in hours: queue announcements."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from okwallet.core.models import Notification
from okwallet.voice import services
from okwallet.voice.models import Call, CallbackRequest, Voicemail
from okwallet.voice.selectors import queue_estimate
from tests.voice.conftest import Phone


@pytest.fixture
def night_phone(client, db, twilio_token, closed_hours):
    return Phone(client, from_number="+8613900000055")


def test_closed_line_announces_when_it_reopens_and_offers_voicemail_and_callback(night_phone):
    reply = night_phone.dial()
    says = reply.says()
    assert "将于12月2日9点恢复服务" in says
    assert "留言请按1" in says and "预约回电请按2" in says
    assert reply.enqueue() is None
    assert Call.objects.get(call_sid=night_phone.sid).ivr_path == ["greeting", "closed"]


def test_voicemail_becomes_a_ticket_with_recording_caller_topic_and_time(night_phone):
    night_phone.dial()
    reply = night_phone.press("1")
    record = reply.record()
    assert record is not None and record.get("maxLength") == "120" and record.get("finishOnKey") == "#"
    reply = night_phone.record_done(sid="RE" + "a" * 32, duration=21)
    assert reply.hangs_up()
    voicemail = Voicemail.objects.get()
    assert voicemail.duration_s == 21 and voicemail.recording_url.endswith("RE" + "a" * 32)
    call = voicemail.call
    assert call.outcome == Call.Outcome.VOICEMAIL
    assert voicemail.ticket_number, "helpdesk.ticket_create should have made a ticket"
    assert " ".join(voicemail.ticket_number) in reply.says()
    from okwallet.helpdesk.selectors import ticket_by_number

    ticket = ticket_by_number(voicemail.ticket_number)
    assert ticket.channel == "voicemail"
    text = ticket.messages.first().body if hasattr(ticket, "messages") else ""
    assert voicemail.recording_url in text and "+8613900000055" in text
    sms = Notification.objects.get(kind="voice.voicemail_received")
    assert voicemail.ticket_number in sms.body and sms.to_address == "+8613900000055"


def test_recording_callback_delivered_twice_makes_one_voicemail_and_one_ticket(night_phone):
    night_phone.dial()
    url = night_phone.press("1").record().get("action")
    first = night_phone.record_done()
    again = night_phone.post(
        url,
        RecordingSid="RE" + "1" * 32,
        RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE" + "1" * 32,
        RecordingDuration="12",
    )
    assert again.content == first.content
    assert Voicemail.objects.count() == 1


def test_empty_recording_makes_no_voicemail(night_phone):
    night_phone.dial()
    night_phone.press("1")
    reply = night_phone.record_done(duration=0)
    assert "没有录到留言" in reply.says()
    assert not Voicemail.objects.exists()


def test_callback_request_outside_hours_is_due_when_the_line_reopens(night_phone):
    night_phone.dial()
    reply = night_phone.press("2")
    assert "已为您预约回电" in reply.says() and reply.hangs_up()
    callback = CallbackRequest.objects.get()
    assert callback.phone == "+8613900000055" and callback.status == CallbackRequest.Status.QUEUED
    assert callback.not_before is not None
    assert callback.not_before > callback.requested_at
    assert callback.next_attempt_at == callback.not_before  # the dialler takes it when the line reopens
    assert Call.objects.get(call_sid=night_phone.sid).outcome == Call.Outcome.CALLBACK
    assert Notification.objects.filter(kind="voice.callback_booked", to_address="+8613900000055").exists()


def test_callback_is_tracked_to_done_by_hand(night_phone, agent):
    """Staff may cancel or re-queue a callback and record its outcome without the dialler."""
    from okwallet.core.errors import OkError
    from okwallet.voice import services_callbacks

    night_phone.dial()
    night_phone.press("2")
    callback = CallbackRequest.objects.get()
    again = services_callbacks.callback_update(callback_id=callback.pk, actor=agent, status="queued")
    assert again.status == "queued" and again.next_attempt_at is not None
    done = services_callbacks.callback_outcome_record(
        callback_id=callback.pk, actor=agent, outcome="done", note="客户自己在App里解决了"
    )
    assert done.status == "done" and done.done_at is not None and done.assigned_to == agent
    assert "App" in done.note
    with pytest.raises(OkError) as err:
        services_callbacks.callback_update(callback_id=callback.pk, actor=agent, status="queued")
    assert err.value.code == "callback_bad_transition"
    with pytest.raises(OkError) as err:
        services_callbacks.callback_outcome_record(
            callback_id=callback.pk, actor=agent, outcome="done", note="x"
        )
    assert err.value.code == "callback_closed"


def test_pressing_zero_after_hours_explains_and_returns_to_the_closed_menu(night_phone):
    night_phone.dial()
    reply = night_phone.press("0")
    assert "现在不在人工服务时间" in reply.says()
    assert reply.gather() is not None and reply.enqueue() is None


def test_no_input_after_hours_twice_leads_to_voicemail(night_phone):
    night_phone.dial()
    night_phone.silence()
    reply = night_phone.silence()
    assert reply.record() is not None


# --- queues in hours -------------------------------------------------------------------------
def test_wait_announces_position_and_estimate_from_agents_and_handle_times(
    client, db, twilio_token, open_hours, ready_agent
):
    first, second, third = (Phone(client, from_number=f"+861390000010{i}") for i in range(3))
    for caller in (first, second, third):
        caller.dial()
        caller.press("0")
    reply = third.wait()
    # one agent ready and free, default handle time 300 s: two ahead → (2+1)·300/1 = 15 minutes
    assert "您前面还有2位客户，预计等待约15分钟" in reply.says()
    reply = first.wait()
    assert "您是下一位" in reply.says()


def test_long_estimate_offers_a_callback_and_pressing_1_books_it(
    client, db, twilio_token, open_hours, ready_agent, settings
):
    settings.OKWALLET_VOICE_CALLBACK_OFFER_SECONDS = 60
    callers = [Phone(client, from_number=f"+861390000020{i}") for i in range(2)]
    for caller in callers:
        caller.dial()
        caller.press("0")
    reply = callers[1].wait()
    assert "请按1预约回电" in reply.says()
    reply = callers[1].press("1")
    assert "已为您预约回电" in reply.says() and reply.hangs_up()
    callback = CallbackRequest.objects.get()
    assert callback.not_before is None  # in hours: call back as soon as possible
    assert callback.call.call_sid == callers[1].sid


def test_no_agents_means_no_estimate_and_a_callback_offer(phone):
    phone.dial()
    phone.press("0")
    reply = phone.wait()
    assert "暂时无法估计等待时间" in reply.says()
    assert "请按1预约回电" in reply.says()


def test_priority_caller_goes_ahead_of_earlier_callers(client, db, twilio_token, open_hours, ready_agent):
    early = Phone(client, from_number="+8613900000301")
    early.dial()
    early.press("0")
    late = Phone(client, from_number="+8613900000302")
    late.dial()
    late.press("0")
    call = Call.objects.get(call_sid=late.sid)
    call.priority = True
    call.save()
    assert queue_estimate(call).ahead == 0
    assert queue_estimate(Call.objects.get(call_sid=early.sid)).ahead == 1


def test_mean_handle_time_comes_from_recent_answered_calls(db, open_hours):
    from okwallet.voice.selectors import mean_handle_seconds

    now = services.now_utc()
    for i in range(6):
        Call.objects.create(
            call_sid=f"CAH{i}",
            started_at=now - timedelta(minutes=30),
            queue="deposits",
            answered_at=now - timedelta(minutes=20),
            ended_at=now - timedelta(minutes=20) + timedelta(seconds=120),
            status=Call.Status.ENDED,
        )
    assert mean_handle_seconds("deposits") == pytest.approx(120)
    assert mean_handle_seconds("security") == 300


def test_estimate_is_infinite_without_agents(db, open_hours):
    call = Call.objects.create(
        call_sid="CAX",
        started_at=services.now_utc(),
        status=Call.Status.QUEUED,
        queue="person",
        queued_at=services.now_utc(),
    )
    assert math.isinf(queue_estimate(call).wait_s)


def test_sixty_plus_caller_skips_the_menu_with_priority(client, twilio_token, open_hours, alice, verified):
    """Age comes from accounts' verified ID (customer_age)."""
    from datetime import date

    verified(alice, birth=date(1958, 3, 1))
    reply = Phone(client, from_number=alice.phone).dial()
    assert "优先为您转接人工客服" in reply.says()
    assert reply.enqueue().text == "person-priority"
    call = Call.objects.get(customer=alice)
    assert call.priority and call.status == Call.Status.QUEUED


def test_operations_can_close_the_line_outside_the_schedule(client, db, twilio_token, open_hours, settings):
    settings.OKWALLET_VOICE_HOURS_OVERRIDE = "closed"
    reply = Phone(client).dial()
    assert "留言请按1" in reply.says() and reply.gather() is not None


def test_caller_under_sixty_hears_the_menu(client, twilio_token, open_hours, alice, verified):
    from datetime import date

    verified(alice, birth=date(1967, 12, 2))  # 58 on 2026-12-01
    reply = Phone(client, from_number=alice.phone).dial()
    assert reply.gather() is not None and reply.enqueue() is None
