"""Console pages under /console/calls/, wrap-up → ticket + written summary, supervisor figures, hooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from okwallet.core.audit import AuditLogEntry
from okwallet.core.models import Notification
from okwallet.voice import services
from okwallet.voice.models import AgentLine, Call, CallbackRequest
from okwallet.voice.selectors import supervisor_figures
from tests.voice.conftest import Phone


def _answered_call(client, agent, *, from_number="+8613800000001") -> Call:
    phone = Phone(client, from_number=from_number)
    phone.dial()
    phone.press("1")
    phone.press("20261201009999#")
    call = Call.objects.get(call_sid=phone.sid)
    services.call_take(call_id=call.pk, agent=agent)
    phone.hang_up(duration=180)
    call.refresh_from_db()
    return call


def test_calls_page_lists_calls_with_masked_numbers(
    client, twilio_token, open_hours, agent, alice, client_for
):
    _answered_call(client, agent)
    page = client_for(agent).get("/console/calls/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "138****0001" in html and "+8613800000001" not in html
    assert alice.public_id in html


def test_call_log_search_by_number_user_id_and_ticket(
    client, twilio_token, open_hours, agent, alice, bob, client_for
):
    _answered_call(client, agent)
    _answered_call(client, agent, from_number=bob.phone)
    console = client_for(agent)
    assert console.get("/console/calls/", {"q": alice.public_id}).context["page"].paginator.count == 1
    assert console.get("/console/calls/", {"q": "13800000002"}).context["page"].paginator.count == 1
    assert console.get("/console/calls/", {"q": "20261201009999"}).context["page"].paginator.count == 2
    assert console.get("/console/calls/", {"mine": "1"}).context["page"].paginator.count == 2


def test_customers_and_visitors_cannot_open_console_call_pages(
    client, twilio_token, open_hours, agent, alice, client_for
):
    call = _answered_call(client, agent)
    assert client_for(alice).get(f"/console/calls/{call.pk}/").status_code == 403
    assert client_for(alice).get("/console/calls/").status_code == 403
    anonymous = client.get("/console/calls/")
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_call_page_shows_ivr_path_digits_and_timeline(client, twilio_token, open_hours, agent, client_for):
    call = _answered_call(client, agent)
    html = client_for(agent).get(f"/console/calls/{call.pk}/").content.decode()
    assert "menu:1" in html and "20261201009999" in html
    assert "answered" in html and "180 s" in html


def test_wrap_up_creates_a_ticket_and_sends_the_written_summary(
    client, twilio_token, open_hours, agent, alice, client_for
):
    call = _answered_call(client, agent)
    response = client_for(agent).post(
        f"/console/calls/{call.pk}/wrapup",
        {
            "notes": "客户反映充值未到账",
            "agreed": "我们联系银行核实",
            "next_step": "2个工作日内短信回复",
            "summary": "sms",
        },
    )
    assert response.status_code == 302
    call.refresh_from_db()
    assert call.ticket_number and call.wrapped_up_at and call.summary_sent_at
    from okwallet.helpdesk.selectors import ticket_by_number

    ticket = ticket_by_number(call.ticket_number)
    assert ticket.channel == "phone" and ticket.customer == alice
    sms = Notification.objects.get(kind="voice.call_summary")
    assert sms.to_address == alice.phone
    assert (
        call.ticket_number in sms.body
        and "我们联系银行核实" in sms.body
        and "2个工作日内短信回复" in sms.body
    )
    assert AuditLogEntry.objects.filter(action="voice.call_wrapup", object_id=str(call.pk)).exists()


def test_second_wrap_up_updates_the_same_ticket(client, twilio_token, open_hours, agent, alice):
    call = _answered_call(client, agent)
    services.call_wrapup(call_id=call.pk, actor=agent, notes="第一次", summary_channel="none")
    call.refresh_from_db()
    number = call.ticket_number
    services.call_wrapup(call_id=call.pk, actor=agent, notes="补充说明", summary_channel="email")
    call.refresh_from_db()
    assert call.ticket_number == number
    from okwallet.helpdesk.selectors import ticket_by_number

    bodies = [m.body for m in ticket_by_number(number).messages.all()]
    assert any("补充说明" in body for body in bodies)
    assert Notification.objects.get(kind="voice.call_summary").channel == "email"


def test_wrap_up_without_notes_is_refused_with_a_friendly_message(
    client, twilio_token, open_hours, agent, client_for
):
    call = _answered_call(client, agent)
    response = client_for(agent).post(f"/console/calls/{call.pk}/wrapup", {"notes": "  "}, follow=True)
    assert response.status_code == 200
    assert not Call.objects.get(pk=call.pk).wrapped_up_at
    assert any(
        "what the call was about" in str(m).lower() or "通话" in str(m) for m in response.context["messages"]
    )


def test_answering_a_call_someone_else_took_is_a_conflict(client, twilio_token, open_hours, agent, manager):
    phone = Phone(client)
    phone.dial()
    phone.press("0")
    call = Call.objects.get(call_sid=phone.sid)
    services.call_take(call_id=call.pk, agent=agent)
    from okwallet.core.errors import OkError

    with pytest.raises(OkError) as err:
        services.call_take(call_id=call.pk, agent=manager)
    assert err.value.code == "call_taken"


def test_ready_toggle_sets_the_agent_line_and_is_audited(agent, client_for):
    console = client_for(agent)
    console.post("/console/calls/ready", {"ready": "1"})
    assert AgentLine.objects.get(agent=agent).ready
    console.post("/console/calls/ready", {"ready": "0"})
    assert not AgentLine.objects.get(agent=agent).ready
    assert AuditLogEntry.objects.filter(action="voice.agent_paused").exists()


def test_callbacks_page_updates_status(client, db, twilio_token, closed_hours, agent, client_for):
    phone = Phone(client, from_number="+8613900000088")
    phone.dial()
    phone.press("2")
    callback = CallbackRequest.objects.get()
    console = client_for(agent)
    assert "139****0088" in console.get("/console/calls/callbacks/").content.decode()
    console.post(f"/console/calls/callbacks/{callback.pk}/outcome", {"outcome": "done"})  # no note
    callback.refresh_from_db()
    assert callback.status == "queued"
    console.post(f"/console/calls/callbacks/{callback.pk}/outcome", {"outcome": "done", "note": "已回电"})
    callback.refresh_from_db()
    assert callback.status == "done"
    assert AuditLogEntry.objects.filter(action="voice.callback.done").exists()
    assert console.post("/console/calls/callbacks/999999/update", {"status": "cancelled"}).status_code == 404
    assert console.post("/console/calls/callbacks/999999/outcome", {"outcome": "done"}).status_code == 404


def test_voicemails_page_links_the_recording(client, db, twilio_token, closed_hours, agent, client_for):
    phone = Phone(client)
    phone.dial()
    phone.press("1")
    phone.record_done(sid="RE" + "b" * 32)
    html = client_for(agent).get("/console/calls/voicemails/").content.decode()
    assert "RE" + "b" * 32 in html


def test_supervisor_figures_service_level_abandoned_and_person_within_60s(db):
    # A fixed noon in Shanghai: "today" starts at local midnight, so a clock-relative base
    # (now - 30 min) fell on yesterday whenever the suite ran between 00:00 and 00:30 there.
    now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    base = now - timedelta(minutes=30)

    def make(sid, *, wait_answer=None, abandon_after=None, asked=True):
        call = Call.objects.create(
            call_sid=sid,
            started_at=base,
            queued_at=base,
            queue="person",
            asked_person_at=base if asked else None,
            status=Call.Status.ENDED,
        )
        if wait_answer is not None:
            call.answered_at = base + timedelta(seconds=wait_answer)
            call.outcome = Call.Outcome.ANSWERED
        if abandon_after is not None:
            call.outcome = Call.Outcome.ABANDONED_QUEUE
        call.ended_at = base + timedelta(seconds=(wait_answer or abandon_after or 0) + 60)
        if abandon_after is not None:
            call.ended_at = base + timedelta(seconds=abandon_after)
        call.save()

    make("A", wait_answer=10)  # within 20 s and 60 s
    make("B", wait_answer=45)  # outside 20 s, within 60 s
    make("C", wait_answer=90)  # outside both
    make("D", abandon_after=5)  # short abandon: not in the service level
    make("E", abandon_after=40)  # abandoned after 20 s: counts against the service level
    Call.objects.create(
        call_sid="W",
        started_at=now - timedelta(seconds=50),
        queued_at=now - timedelta(seconds=50),
        asked_person_at=now - timedelta(seconds=50),
        queue="person",
        status=Call.Status.QUEUED,
    )
    f = supervisor_figures(now=now)
    assert f.waiting == 1 and 49 <= f.longest_wait_s <= 51
    assert f.abandoned == 2 and f.answered == 3 and f.offered == 6
    assert f.service_level == pytest.approx(1 / 4)  # A of A, B, C, E
    assert f.person_within_60 == pytest.approx(2 / 5)  # A, B of A..E (W still within its minute)


def test_dashboard_panel_for_supervisors_only(supervisor, agent, db):
    from okwallet.voice.hooks import dashboard_panels

    assert dashboard_panels(agent) == []
    panel = dashboard_panels(supervisor)[0]
    assert "Service level" in panel["html"] or "服务水平" in panel["html"]
    assert "voice-by-hour" in panel["html"]


def test_customer_360_contacts_lists_the_customers_calls_only(
    client, twilio_token, open_hours, agent, alice, bob
):
    from okwallet.voice.hooks import customer_360_contacts

    _answered_call(client, agent)
    rows = customer_360_contacts(alice)
    assert len(rows) == 1 and rows[0]["kind"] == "call" and rows[0]["url"].startswith("/console/calls/")
    assert customer_360_contacts(bob) == []


def test_console_home_shows_the_hotline_panel(agent, client_for):
    html = client_for(agent).get("/console/").content.decode()
    assert "/console/calls/" in html


def test_agent_softphone_dial_takes_the_priority_queue_first(client, db, twilio_token, open_hours, agent):
    from twilio.request_validator import RequestValidator

    from tests.voice.conftest import BASE, TOKEN

    normal = Phone(client)
    normal.dial()
    normal.press("0")
    vip = Phone(client)
    vip.dial()
    vip.press("0")
    Call.objects.filter(call_sid=vip.sid).update(priority=True)
    params = {"CallSid": "CAagent", "From": "client:zhou", "To": "+864008206655"}
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/voice/twilio/agent-dial", params)
    response = client.post("/voice/twilio/agent-dial", data=params, HTTP_X_TWILIO_SIGNATURE=sig)
    assert response.status_code == 200
    assert ">person-priority</Queue>" in response.content.decode()
    assert f"agent={agent.pk}" in response.content.decode()


def test_demo_seed_is_idempotent_and_makes_a_call_log_callback_and_voicemail(db):
    import io

    from okwallet.voice.demo import seed
    from okwallet.voice.models import Voicemail

    seed(stdout=io.StringIO())
    seed(stdout=io.StringIO())
    assert Call.objects.filter(call_sid__startswith="CAdemo").count() == 4
    assert CallbackRequest.objects.count() == 1 and Voicemail.objects.count() == 1


def test_bridge_from_the_agent_softphone_marks_the_call_answered(client, twilio_token, open_hours, agent):
    phone = Phone(client)
    phone.dial()
    phone.press("0")
    reply = phone.post(f"/voice/twilio/bridge?agent={agent.pk}", DequeingCallSid="CAagentleg", QueueTime="12")
    assert reply.status == 200
    call = Call.objects.get(call_sid=phone.sid)
    assert call.status == Call.Status.CONNECTED and call.agent == agent
    exit_reply = phone.post("/voice/twilio/queue-exit", QueueResult="bridged")
    assert exit_reply.hangs_up()


def test_call_log_counts_no_further_than_its_cap(agent, client_for, monkeypatch, db):
    """A call log over a million calls must not count them all on each page view: past the cap it
    says "more than N calls" and pages on without a total (core/paging.py)."""
    from okwallet.core.paging import CappedPaginator

    now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    Call.objects.bulk_create(
        Call(call_sid=f"CAP{i:03}", started_at=now + timedelta(minutes=i), status=Call.Status.ENDED)
        for i in range(27)
    )
    c = client_for(agent)
    monkeypatch.setattr(CappedPaginator, "cap", 26)
    big = c.get("/console/calls/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "More than 26 calls" in big and "(more than 26: search or filter" in big
    assert "of 2" not in big
    zh = c.get("/console/calls/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "超过 26 通来电" in zh
    monkeypatch.setattr(CappedPaginator, "cap", 27)  # exactly at the cap: counted exactly
    exact = c.get("/console/calls/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "27 calls" in exact and "Page 1 of 2" in exact and "More than" not in exact
