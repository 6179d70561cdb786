"""Callbacks worked to an end by the dialler: claimed in hours, dialled through our sandbox
provider, connected to a free agent, retried with back-off, recorded done by the agent.

The provider's part is played as Twilio would: every request to our outbound-leg webhooks is
signed with the twilio library over the absolute URL the dialler gave the provider.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from twilio.request_validator import RequestValidator

from okwallet.core.audit import AuditLogEntry
from okwallet.core.models import Notification
from okwallet.voice import dialler, services, services_callbacks
from okwallet.voice.models import AgentLine, Call, CallbackAttempt, CallbackRequest, WebhookEvent
from okwallet.voice.outbound import SandboxProvider
from tests.voice.conftest import BASE, OPEN_AT, TOKEN, Phone, Reply

_sids = itertools.count(1)


@pytest.fixture(autouse=True)
def _sandbox(settings, twilio_token):
    settings.OKWALLET_VOICE_PUBLIC_URL = BASE
    settings.OKWALLET_VOICE_OUTBOUND_PROVIDER = "sandbox"
    settings.OKWALLET_VOICE_OUTBOUND_CALLER_IDS = "+864008206600"
    settings.OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS = 3
    settings.OKWALLET_VOICE_CALLBACK_BACKOFF_S = 600
    SandboxProvider.reset()
    yield
    SandboxProvider.reset()


@pytest.fixture
def hours_open(settings):
    settings.OKWALLET_VOICE_HOURS_OVERRIDE = "open"


def book(*, phone: str = "+8613900000077", topic: str = "deposit", customer=None, at=OPEN_AT):
    """A caller asked for a callback during hours (as the IVR does when the wait is long)."""
    call = Call.objects.create(
        call_sid=f"CAbook{next(_sids):028d}", from_number=phone, started_at=at, topic=topic, customer=customer
    )
    return services.callback_request_create(call=call, at=at)


class ProviderLeg:
    """The provider's side of one placed leg: posts signed webhooks to the URLs it was given."""

    def __init__(self, client, placed):
        self.client = client
        self.placed = placed
        self.seq = itertools.count(0)

    def _post(self, url: str, *, token: str = TOKEN, sid: str | None = None, **extra) -> Reply:
        params = {
            "CallSid": sid or self.placed.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.placed.from_,
            "To": self.placed.to,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            **{k: v for k, v in extra.items() if v is not None},
        }
        signature = RequestValidator(token).compute_signature(url, params)
        return Reply(self.client.post(url.removeprefix(BASE), data=params, HTTP_X_TWILIO_SIGNATURE=signature))

    def status(self, status: str, **extra) -> Reply:
        return self._post(
            self.placed.status_callback, CallStatus=status, SequenceNumber=str(next(self.seq)), **extra
        )

    def answer(self) -> Reply:
        self.connect_reply = self._post(self.placed.url, CallStatus="in-progress")
        return self.connect_reply

    def dial_result(self, dial_status: str) -> Reply:
        dial = self.connect_reply.root.find("Dial")
        return self._post(
            BASE + dial.get("action"),
            CallStatus="in-progress",
            DialCallStatus=dial_status,
            DialCallSid="CA" + "d" * 32,
            DialCallDuration="60" if dial_status == "completed" else None,
        )


def dial(client, *, now=None) -> list[ProviderLeg]:
    before = len(SandboxProvider.placed)
    dialler.dial_due(now=now or OPEN_AT)
    return [ProviderLeg(client, placed) for placed in SandboxProvider.placed[before:]]


def test_a_night_callback_is_dialled_when_the_line_reopens_connected_and_recorded_done(
    client, db, closed_hours, agent, client_for
):
    night = Phone(client, from_number="+8613900000055")
    night.dial()
    night.press("2")  # closed menu: book a callback
    callback = CallbackRequest.objects.get()
    assert callback.status == "queued" and callback.next_attempt_at == callback.not_before
    services.agent_line_set(agent=agent, ready=True)

    assert dial(client, now=closed_hours) == []  # closed: nothing is dialled at night
    (leg,) = dial(client, now=callback.next_attempt_at)  # the line has reopened
    assert leg.placed.to == "+8613900000055" and leg.placed.from_ == "+864008206600"
    assert leg.placed.url.startswith(BASE + "/voice/twilio/callback-connect?leg=")
    callback.refresh_from_db()
    assert callback.status == "dialling" and callback.attempts == 1 and callback.assigned_to == agent
    attempt = CallbackAttempt.objects.get()
    assert attempt.provider_sid == leg.placed.sid and attempt.call.call_sid == leg.placed.sid
    assert attempt.call.direction == "outbound" and attempt.call.agent == agent
    assert AgentLine.objects.get(agent=agent).current_call_id == attempt.call_id  # busy now

    assert leg.status("initiated").status == 200
    assert leg.status("ringing").status == 200
    reply = leg.answer()  # the customer picks up: greeting, warning, bridge to the agent
    assert "按您的预约为您回电" in reply.says() and "验证码" in reply.says()
    assert reply.say_languages() == {"zh-CN"}
    assert reply.root.find("Dial/Client").text == agent.username
    callback.refresh_from_db()
    assert callback.status == "connected" and callback.connected_at is not None

    assert leg.dial_result("completed").hangs_up()
    leg.status("completed", CallDuration="95")
    attempt.refresh_from_db()
    assert attempt.status == "ended" and attempt.call.status == Call.Status.ENDED
    assert attempt.call.duration_s == 95 and attempt.call.outcome == Call.Outcome.ANSWERED
    assert AgentLine.objects.get(agent=agent).current_call_id is None  # free for the next one
    callback.refresh_from_db()
    assert callback.status == "connected"  # until the agent says how it went

    console = client_for(agent)
    page = console.get("/console/calls/callbacks/").content.decode()
    assert 'data-callback-status="connected"' in page
    leg_page = console.get(f"/console/calls/{attempt.call_id}/")  # the leg is in the call log
    assert leg_page.status_code == 200 and "139****0055" in leg_page.content.decode()
    pop = console.get(f"/console/calls/{attempt.call_id}/pop").content.decode()
    assert "回电：由我们呼叫客户" in pop
    console.post(
        f"/console/calls/callbacks/{callback.pk}/outcome", {"outcome": "done", "note": "已为客户补发充值凭证"}
    )
    callback.refresh_from_db()
    assert callback.status == "done" and callback.done_at is not None and callback.ticket_number
    from okwallet.helpdesk.models import Ticket, TicketMessage

    ticket = Ticket.objects.get(number=callback.ticket_number)
    assert TicketMessage.objects.filter(ticket=ticket, body__contains="已为客户补发充值凭证").exists()
    assert AuditLogEntry.objects.filter(action="voice.callback.done", object_id=str(callback.pk)).exists()
    assert Notification.objects.filter(kind="voice.callback_done", to_address="+8613900000055").exists()
    page = console.get("/console/calls/callbacks/?show=all").content.decode()
    assert 'data-callback-status="done"' in page and callback.ticket_number in page


def test_an_unanswered_callback_is_retried_with_back_off_then_failed(client, db, hours_open, agent, settings):
    settings.OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS = 2
    services.agent_line_set(agent=agent, ready=True)
    callback = book()
    (leg,) = dial(client)
    leg.status("ringing")
    leg.status("no-answer")
    callback.refresh_from_db()
    assert callback.status == "no_answer" and callback.last_result == "no-answer"
    assert AgentLine.objects.get(agent=agent).current_call_id is None
    due = callback.next_attempt_at
    leg_end = CallbackAttempt.objects.get().ended_at
    assert due == leg_end + timedelta(seconds=600)

    assert dial(client, now=due - timedelta(seconds=1)) == []  # backing off
    (second,) = dial(client, now=due)
    second.status("busy")
    callback.refresh_from_db()
    assert callback.status == "failed" and callback.attempts == 2 and callback.done_at is not None
    assert [a.result for a in callback.legs.all()] == ["no-answer", "busy"]
    assert Call.objects.filter(direction="outbound", outcome=Call.Outcome.NOT_REACHED).count() == 2
    assert Notification.objects.filter(kind="voice.callback_failed", to_address=callback.phone).exists()
    assert dial(client, now=due + timedelta(days=1)) == []  # failed is final


def test_back_off_doubles_for_each_unanswered_leg(settings):
    settings.OKWALLET_VOICE_CALLBACK_BACKOFF_S = 600
    assert [services_callbacks.backoff_seconds(n) for n in (1, 2, 3)] == [600, 1200, 2400]
    assert services_callbacks.backoff_seconds(20) == 4 * 3600


def test_leg_webhooks_are_signed_stored_raw_and_idempotent(client, db, hours_open, agent):
    services.agent_line_set(agent=agent, ready=True)
    callback = book()
    (leg,) = dial(client)

    forged = leg._post(leg.placed.status_callback, token="not-our-token", CallStatus="no-answer")
    assert forged.status == 403
    assert WebhookEvent.objects.filter(kind="cb_status", status="rejected").count() == 1
    callback.refresh_from_db()
    assert callback.status == "dialling"  # nothing happened

    other = leg._post(leg.placed.status_callback, sid="CA" + "f" * 32, CallStatus="no-answer")
    assert other.status == 200  # a CallSid that is not the leg's changes nothing
    callback.refresh_from_db()
    assert callback.status == "dialling"

    leg.answer()
    again = leg._post(leg.placed.url, CallStatus="in-progress")  # the provider retried the fetch
    assert again.content == leg.connect_reply.content
    first = leg.status("completed", CallDuration="30")
    twice = leg._post(
        leg.placed.status_callback, CallStatus="completed", CallDuration="30", SequenceNumber="0"
    )
    assert first.status == twice.status == 200
    assert (
        WebhookEvent.objects.filter(kind="cb_status", dedupe_key__isnull=True, signature_valid=True).count()
        == 1
    )
    assert CallbackAttempt.objects.get().status == "ended"
    assert Call.objects.get(direction="outbound").events.filter(kind="ended").count() == 1


def test_an_agent_who_misses_the_bridge_is_paused_and_the_customer_called_again_soon(
    client, db, hours_open, agent
):
    services.agent_line_set(agent=agent, ready=True)
    callback = book()
    (leg,) = dial(client)
    leg.answer()
    reply = leg.dial_result("no-answer")
    assert "客服暂时无法接听" in reply.says() and reply.hangs_up()
    leg.status("completed", CallDuration="25")
    callback.refresh_from_db()
    assert callback.status == "no_answer" and callback.last_result == "agent_no_answer"
    attempt = CallbackAttempt.objects.get()
    assert callback.next_attempt_at == attempt.ended_at + timedelta(seconds=60)
    assert not AgentLine.objects.get(agent=agent).ready  # paused: no more calls to an empty desk
    assert AuditLogEntry.objects.filter(action="voice.agent_auto_paused").exists()
    assert Call.objects.get(direction="outbound").outcome == Call.Outcome.FAILED
    assert dial(client, now=callback.next_attempt_at) == []  # nobody is ready now


def test_a_number_the_provider_refuses_counts_as_an_unanswered_leg(client, db, hours_open, agent):
    services.agent_line_set(agent=agent, ready=True)
    callback = book(phone="12345")  # not E.164: Twilio (and our sandbox) refuse it
    assert dial(client) == []
    callback.refresh_from_db()
    attempt = CallbackAttempt.objects.get()
    assert attempt.status == "unanswered" and attempt.result == "provider_error" and "21211" in attempt.error
    assert callback.status == "no_answer" and callback.attempts == 1
    assert AgentLine.objects.get(agent=agent).current_call_id is None


def test_nothing_is_dialled_without_a_free_agent_or_while_callers_wait(client, db, hours_open, agent):
    book()
    assert dial(client) == []  # nobody ready
    services.agent_line_set(agent=agent, ready=True)
    caller = Phone(client)
    caller.dial()
    caller.press("0")  # a live caller waits for a person
    assert dial(client) == []
    caller.hang_up()
    assert len(dial(client)) == 1
    assert CallbackRequest.objects.get().status == "dialling"


def test_a_complaint_callback_waits_for_a_senior_manager(client, db, hours_open, agent, manager):
    services.agent_line_set(agent=agent, ready=True)
    book(topic="complaint")
    assert dial(client) == []
    services.agent_line_set(agent=manager, ready=True)
    (leg,) = dial(client)
    assert CallbackAttempt.objects.get().agent == manager


def test_priority_callbacks_go_first_and_one_agent_takes_one_at_a_time(client, db, hours_open, agent):
    services.agent_line_set(agent=agent, ready=True)
    first = book(phone="+8613900000001")
    elder = book(phone="+8613900000002")
    CallbackRequest.objects.filter(pk=elder.pk).update(priority=True)
    (leg,) = dial(client)
    assert leg.placed.to == "+8613900000002"
    assert CallbackRequest.objects.get(pk=first.pk).status == "queued"


def test_a_lost_leg_is_closed_by_the_sweep(client, db, hours_open, agent):
    services.agent_line_set(agent=agent, ready=True)
    callback = book()
    (leg,) = dial(client)
    attempt = CallbackAttempt.objects.get()
    assert services_callbacks.callbacks_sweep_lost(now=attempt.started_at + timedelta(minutes=5)) == 0
    assert services_callbacks.callbacks_sweep_lost(now=attempt.started_at + timedelta(minutes=11)) == 1
    callback.refresh_from_db()
    assert callback.status == "no_answer" and callback.last_result == "lost"
    assert AgentLine.objects.get(agent=agent).current_call_id is None
    reply = leg.answer()  # the provider turns up after all: the caller is told goodbye, not bridged
    assert reply.hangs_up() and reply.root.find("Dial") is None


def test_supervisor_figures_show_callbacks_by_state(client, db, hours_open, agent, supervisor):
    from okwallet.voice.selectors import supervisor_figures

    services.agent_line_set(agent=agent, ready=True)
    book(phone="+8613900000001")
    book(phone="+8613900000002")
    (leg,) = dial(client)
    figures = supervisor_figures(now=OPEN_AT + timedelta(minutes=5))
    assert (figures.callbacks_open, figures.callbacks_queued, figures.callbacks_dialling) == (2, 1, 1)
    assert figures.offered == 2  # the outbound leg is not an offered call
    leg.answer()
    leg.status("completed")
    services_callbacks.callback_outcome_record(
        callback_id=CallbackAttempt.objects.get().callback_id, actor=agent, outcome="done", note="ok"
    )
    figures = supervisor_figures(now=OPEN_AT + timedelta(minutes=5))
    assert figures.callbacks_open == 1
    from okwallet.voice.hooks import dashboard_panels

    html = str(dashboard_panels(supervisor)[0]["html"])
    assert '<dd data-figure="callbacks-done">1</dd>' in html


def test_the_periodic_task_runs_the_dialler(client, db, hours_open, agent):
    from okwallet.voice.tasks import dial_due_callbacks

    services.agent_line_set(agent=agent, ready=True)
    book(at=OPEN_AT - timedelta(minutes=1))
    dial_due_callbacks.call_local()
    assert CallbackRequest.objects.get().status == "dialling"
    assert len(SandboxProvider.placed) == 1


def test_callbacks_are_spread_over_the_free_agents(client, db, hours_open, agent, make_staff):
    colleague = make_staff("li", "agent", "客服 小李")
    services.agent_line_set(agent=agent, ready=True)
    services.agent_line_set(agent=colleague, ready=True)
    book(phone="+8613900000001")
    book(phone="+8613900000002")
    first, second = dial(client)
    assert {a.agent for a in CallbackAttempt.objects.all()} == {agent, colleague}
    for leg in (first, second):
        leg.answer()
        leg.status("completed")
    book(phone="+8613900000003")
    (third,) = dial(client)
    third_agent = CallbackAttempt.objects.get(callback__phone="+8613900000003").agent
    first_agent = CallbackAttempt.objects.get(callback__phone="+8613900000001").agent
    assert third_agent == first_agent  # the one who has waited longest since their last callback
