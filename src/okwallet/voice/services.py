"""Hotline writes: calls entering queues, being answered and ending, freezes, callbacks,
voicemails, wrap-up and the written summary after the call.

Locking contract: every function that changes a ``Call`` expects the caller to hold the row
lock (``Call.objects.select_for_update()``) inside a transaction; the webhook pipeline and
the CTI API do (``okwallet.voice.webhooks``). CTI pushes and notifications go out on commit.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from okwallet.accounts.phone import mask_phone
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput, OkError
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import format_local, now_utc
from okwallet.voice import conf, events, integrations
from okwallet.voice.models import AgentLine, Call, CallbackRequest, CallEvent, Voicemail

log = logging.getLogger(__name__)

# queue code → (helpdesk ticket category, helpdesk queue code for agent presence)
QUEUES = {
    "deposits": ("deposit", "payments"),
    "security": ("security", "security"),
    "complaints": ("complaint", "complaints"),
    "account": ("account_closure", "account"),
    "person": ("other", None),
}
TOPIC_QUEUE = {
    Call.Topic.DEPOSIT: "deposits",
    Call.Topic.SECURITY: "security",
    Call.Topic.COMPLAINT: "complaints",
    Call.Topic.CLOSURE: "account",
    Call.Topic.PERSON: "person",
    "": "person",
}
QUEUE_LABELS = {
    "deposits": _("Deposits and withdrawals"),
    "security": _("Password and account security"),
    "complaints": _("Complaints (senior managers)"),
    "account": _("Account closure"),
    "person": _("General"),
}


def call_event_add(*, call: Call, kind: str, at: datetime | None = None, **data) -> CallEvent:
    """Add to the call's timeline: at once, or with the call's next ``save_changes`` when the
    webhook pipeline buffers events (one bulk INSERT per webhook)."""
    event = CallEvent(call_id=call.pk, kind=kind, at=at or now_utc(), data=data)
    pending = getattr(call, "_pending_events", None)
    if pending is not None:
        pending.append(event)
        return event
    event.save()
    return event


def call_start(
    *,
    call_sid: str,
    from_number: str = "",
    to_number: str = "",
    provider: str = "twilio",
    at=None,
    deferred: bool = False,
) -> tuple[Call, bool]:
    """The call row for ``call_sid`` (locked), created (caller identified by caller ID) when new.

    ``deferred`` (the webhook pipeline): a new call is not inserted yet and its events are
    buffered; the pipeline's ``call.save_changes()`` writes it once, in its final state.
    """
    at = at or now_utc()
    call = Call.objects.select_for_update().filter(call_sid=call_sid).first()
    if call is not None:
        if deferred:
            call.buffer_events()
        return call, False
    call = Call(
        call_sid=call_sid,
        provider=provider,
        from_number=(from_number or "")[:32],
        to_number=(to_number or "")[:32],
        started_at=at,
    )
    customer = integrations.customer_by_phone(from_number) if from_number else None
    if customer is not None:
        call.customer = customer
        call.identified_by = "caller_id"
        if (customer.preferred_language or "").startswith("en"):
            call.language = "en"
        age = integrations.customer_age(customer)
        if age is not None and age >= conf.get("OKWALLET_VOICE_PRIORITY_AGE"):
            call.priority = True
    if deferred:
        call.buffer_events()
    else:
        call.save()
    call_event_add(call=call, kind="ringing", at=at, frm=call.from_number, to=call.to_number)
    events.push(call, "ringing")
    return call, True


def call_note_input(*, call: Call, node: str, digits: str = "", speech: str = "", at=None) -> None:
    """The IVR path and what was entered travel with the call (screen-pop, call log)."""
    at = at or now_utc()
    entry = {"node": node, "at": at.isoformat()}
    if digits:
        entry["digits"] = digits
    if speech:
        entry["speech"] = speech[:200]
    call.digits = [*call.digits, entry][-100:]


def call_path_add(*, call: Call, step: str) -> None:
    call.ivr_path = [*call.ivr_path, step][-100:]


def call_enqueue(*, call: Call, queue: str, at=None) -> None:
    """Put the call in ``queue`` (idempotent); agents see it ring on their consoles."""
    at = at or now_utc()
    if queue not in QUEUES:
        raise InvalidInput("unknown_queue", _("Unknown queue."), details={"queue": queue})
    if call.is_ended:
        return
    if call.asked_person_at is None:
        call.asked_person_at = at
    if call.status == Call.Status.QUEUED and call.queue == queue:
        return
    call.status = Call.Status.QUEUED
    call.queue = queue
    call.queued_at = call.queued_at or at
    call_path_add(call=call, step=f"queue:{queue}")
    call_event_add(call=call, kind="queued", at=at, queue=queue, priority=call.priority)
    events.push(call, "queued")


def call_mark_answered(*, call: Call, agent=None, at=None) -> bool:
    """An agent took the call. False (nothing changes) when it had already ended: events out of order."""
    at = at or now_utc()
    if call.is_ended:
        call_event_add(call=call, kind="ignored", at=at, reason="answer_after_end")
        return False
    if call.status == Call.Status.CONNECTED and (
        agent is None or call.agent_id == getattr(agent, "pk", None)
    ):
        return True
    call.status = Call.Status.CONNECTED
    call.answered_at = call.answered_at or at
    if call.asked_person_at is None:
        call.asked_person_at = call.queued_at or at
    if agent is not None:
        call.agent = agent
        AgentLine.objects.update_or_create(agent=agent, defaults={"current_call": call, "ready": True})
    call.outcome = Call.Outcome.ANSWERED
    call_path_add(call=call, step="answered")
    call_event_add(call=call, kind="answered", at=at, agent=getattr(agent, "username", ""))
    events.push(call, "answered")
    return True


def call_mark_ended(
    *, call: Call, at=None, duration_s: int | None = None, outcome: str | None = None
) -> bool:
    """The call ended (hang-up, completed, failed). Idempotent; decides the outcome from the state."""
    at = at or now_utc()
    if call.is_ended:
        return False
    if outcome is None:
        if call.outcome:
            outcome = call.outcome
        elif call.status == Call.Status.QUEUED:
            outcome = Call.Outcome.ABANDONED_QUEUE
        elif call.status == Call.Status.CONNECTED:
            outcome = Call.Outcome.ANSWERED
        else:
            outcome = Call.Outcome.ABANDONED_IVR
    call.outcome = outcome
    call.status = Call.Status.ENDED
    call.ended_at = at
    call.duration_s = (
        duration_s if duration_s is not None else max(0, int((at - call.started_at).total_seconds()))
    )
    call_path_add(call=call, step="ended")
    call_event_add(call=call, kind="ended", at=at, outcome=outcome, duration_s=call.duration_s)
    if call.agent_id:
        AgentLine.objects.filter(agent_id=call.agent_id, current_call=call).update(current_call=None)
    events.push(call, "ended")
    return True


def call_freeze(*, call: Call, user, at=None) -> bool:
    """Freeze ``user``'s account from the phone (24/7). True if it was frozen now, False if already."""
    at = at or now_utc()
    already = user.status == "frozen"
    if not already:
        integrations.account_freeze(user=user, reason=f"hotline call {call.call_sid}")
    audit_log_write(
        actor=None,
        action="voice.freeze_by_phone",
        obj=call,
        details={"user": user.pk, "verified_by": call.identified_by, "already_frozen": already},
    )
    call.customer = user
    call.outcome = Call.Outcome.FROZEN
    call_path_add(call=call, step="frozen")
    call_event_add(call=call, kind="frozen", at=at, already=already)
    return not already


def callback_request_create(*, call: Call, at=None) -> CallbackRequest | None:
    """Queue a callback to the caller's number for the call's topic (one per call)."""
    at = at or now_utc()
    if not call.from_number or call.from_number.startswith("client:") or call.from_number == "anonymous":
        return None
    existing = CallbackRequest.objects.filter(call=call).first()
    if existing is not None:
        return existing
    status = integrations.hotline_status(at=at)
    callback = CallbackRequest.objects.create(
        call=call,
        customer=call.customer,
        phone=call.from_number,
        topic=call.topic or "person",
        priority=call.priority,
        requested_at=at,
        not_before=None if status.is_open else status.next_open,
        next_attempt_at=at if status.is_open else (status.next_open or at),
    )
    call.outcome = Call.Outcome.CALLBACK
    call_path_add(call=call, step="callback")
    call_event_add(call=call, kind="callback_requested", at=at, callback=callback.pk)
    when = format_local(callback.not_before) if callback.not_before else ""
    body = (
        f"【OK钱包】已为您预约客服回电（{when or '尽快'}），我们将拨打 {callback.phone}。"
        "客服回电号码请以官网公布为准，客服不会索要验证码或密码。"
    )
    notification_send(
        channel="sms", kind="voice.callback_booked", body=body, user=call.customer, to=callback.phone
    )
    return callback


def _ticket_for(
    call: Call, *, channel: str, subject: str, body: str, source_ref: str, extra: dict | None = None
):
    category = QUEUES.get(TOPIC_QUEUE.get(call.topic, "person"), ("other", None))[0]
    try:
        ticket = integrations.ticket_create(
            channel=channel,
            category=category,
            subject=subject,
            body=body,
            customer=call.customer,
            requester_phone=call.from_number,
            source_ref=source_ref,
            facts={
                "call_sid": call.call_sid,
                "ivr_path": call.ivr_path,
                "reference": call.reference,
                **(extra or {}),
            },
        )
    except OkError:
        log.exception("ticket_create refused the hotline ticket")
        return None
    return ticket


def voicemail_store(
    *, call: Call, recording_sid: str, recording_url: str, duration_s: int = 0, at=None
) -> Voicemail:
    """A voicemail becomes a ticket with the recording link, caller, topic and time (idempotent)."""
    at = at or now_utc()
    existing = Voicemail.objects.filter(recording_sid=recording_sid).first()
    if existing is not None:
        return existing
    voicemail = Voicemail.objects.create(
        call=call,
        recording_sid=recording_sid,
        recording_url=recording_url,
        duration_s=duration_s,
        topic=call.topic,
        created_at=at,
    )
    call.outcome = Call.Outcome.VOICEMAIL
    call_path_add(call=call, step="voicemail")
    call_event_add(call=call, kind="voicemail", at=at, recording_sid=recording_sid)
    voicemail_ticket_ensure(voicemail=voicemail, call=call)
    body = "【OK钱包】您的语音留言已收到"
    if voicemail.ticket_number:
        body += f"，工单号 {voicemail.ticket_number}"
    body += "，我们将在服务时间内尽快回复。"
    notification_send(
        channel="sms", kind="voice.voicemail_received", body=body, user=call.customer, to=call.from_number
    )
    return voicemail


def voicemail_ticket_ensure(*, voicemail: Voicemail, call: Call | None = None) -> str:
    """Create the voicemail's ticket if it has none yet (helpdesk may land later: retried by a job)."""
    if voicemail.ticket_number:
        return voicemail.ticket_number
    call = call or voicemail.call
    label = str(QUEUE_LABELS.get(TOPIC_QUEUE.get(call.topic, "person"), ""))
    body = (
        f"语音留言 / Voicemail\n来电号码 Caller: {call.from_number or '-'}\n"
        f"主题 Topic: {label}\n时间 Time: {format_local(voicemail.created_at)}\n"
        f"时长 Duration: {voicemail.duration_s}s\n录音 Recording: {voicemail.recording_url}\n"
        f"IVR: {' > '.join(call.ivr_path)}"
    )
    ticket = _ticket_for(
        call,
        channel="voicemail",
        subject=f"语音留言 {mask_phone(call.from_number)}".strip(),
        body=body,
        source_ref=f"voicemail:{voicemail.recording_sid}",
        extra={"recording_url": voicemail.recording_url, "duration_s": voicemail.duration_s},
    )
    if ticket is not None:
        voicemail.ticket_number = ticket.number
        Voicemail.objects.filter(pk=voicemail.pk).update(ticket_number=ticket.number)
        if not call.ticket_number:
            call.ticket_number = ticket.number
            Call.objects.filter(pk=call.pk).update(ticket_number=ticket.number)
    return voicemail.ticket_number


@transaction.atomic
def agent_line_set(*, agent, ready: bool, request=None) -> AgentLine:
    line, _created = AgentLine.objects.select_for_update().get_or_create(agent=agent)
    if line.ready != ready:
        line.ready = ready
        line.save(update_fields=["ready", "updated_at"])
        from django.core.cache import cache

        cache.delete_many([f"voice:agents:{queue}" for queue in QUEUES])
        audit_log_write(
            actor=agent,
            action="voice.agent_ready" if ready else "voice.agent_paused",
            obj=line,
            request=request,
        )
    return line


@transaction.atomic
def call_take(*, call_id: int, agent, request=None) -> Call:
    """An agent answers a waiting call from the console (for PBXs without a bridge callback)."""
    call = Call.objects.select_for_update().get(pk=call_id)
    if call.is_ended:
        raise OkError("call_ended", _("This call has already ended."), http_status=409)
    if call.status == Call.Status.CONNECTED and call.agent_id and call.agent_id != agent.pk:
        raise OkError("call_taken", _("Another agent has already answered this call."), http_status=409)
    call_mark_answered(call=call, agent=agent)
    call.save()
    audit_log_write(actor=agent, action="voice.call_answer", obj=call, request=request)
    return call


@transaction.atomic
def call_hangup(*, call_id: int, agent, request=None) -> Call:
    call = Call.objects.select_for_update().get(pk=call_id)
    if call_mark_ended(call=call):
        call.save()
        audit_log_write(actor=agent, action="voice.call_hangup", obj=call, request=request)
    return call


SUMMARY_CHANNELS = ("sms", "email", "none")


@transaction.atomic
def call_wrapup(
    *,
    call_id: int,
    actor,
    notes: str,
    agreed: str = "",
    next_step: str = "",
    summary_channel: str = "sms",
    request=None,
) -> Call:
    """Wrap-up notes create or update the call's ticket; the customer gets a written summary.

    The summary carries the ticket number, what was agreed and what happens next, so the
    customer has the record the article advises keeping, without having to take notes.
    """
    if summary_channel not in SUMMARY_CHANNELS:
        raise InvalidInput("invalid_summary_channel", _("Choose SMS, email or no summary."))
    notes, agreed, next_step = notes.strip(), agreed.strip(), next_step.strip()
    if not notes:
        raise InvalidInput("wrapup_notes_required", _("Write down what the call was about."))
    call = Call.objects.select_for_update().get(pk=call_id)
    call.wrapup_notes = notes[:5000]
    call.wrapup_agreed = agreed[:2000]
    call.wrapup_next_step = next_step[:2000]
    call.wrapped_up_at = now_utc()
    if call.agent_id is None:
        call.agent = actor
    body = f"电话记录 / Call notes\n{notes}\n\n约定 Agreed: {agreed or '-'}\n下一步 Next step: {next_step or '-'}"
    ticket = integrations.ticket_by_number(call.ticket_number) if call.ticket_number else None
    if ticket is not None:
        integrations.ticket_add_message(
            ticket=ticket,
            body=body,
            author=actor,
            public=False,
            channel="phone",
            source_ref=f"call:{call.call_sid}:wrapup:{call.wrapped_up_at.isoformat()}",
        )
    else:
        ticket = _ticket_for(
            call,
            channel="phone",
            subject=f"电话 {mask_phone(call.from_number)} {QUEUE_LABELS.get(call.queue or 'person', '')!s}".strip(),
            body=body,
            source_ref=f"call:{call.call_sid}",
        )
        if ticket is not None:
            call.ticket_number = ticket.number
    call.save()
    audit_log_write(
        actor=actor,
        action="voice.call_wrapup",
        obj=call,
        request=request,
        details={"ticket": call.ticket_number},
    )
    if summary_channel != "none":
        call_summary_send(call=call, channel=summary_channel)
    return call


def call_summary_text(call: Call) -> str:
    lines = ["【OK钱包】您本次来电的记录："]
    if call.ticket_number:
        lines.append(f"工单号：{call.ticket_number}")
    if call.wrapup_agreed:
        lines.append(f"已约定：{call.wrapup_agreed}")
    if call.wrapup_next_step:
        lines.append(f"下一步：{call.wrapup_next_step}")
    lines.append("客服不会索要验证码或密码。")
    return "\n".join(lines)


def call_summary_send(*, call: Call, channel: str = "sms") -> bool:
    """Send the written summary (once per wrap-up). False when we have no address for the customer."""
    body = call_summary_text(call)
    if channel == "email":
        to = getattr(call.customer, "email", "") if call.customer else ""
        if not to:
            channel = "sms"
    if channel == "sms":
        to = (call.customer.phone if call.customer and call.customer.phone else "") or call.from_number
        if not to or to.startswith("client:") or to == "anonymous":
            return False
    subject = f"OK钱包 来电记录 {call.ticket_number}".strip()
    notification_send(
        channel=channel, kind="voice.call_summary", body=body, user=call.customer, to=to, subject=subject
    )
    call.summary_sent_at = now_utc()
    Call.objects.filter(pk=call.pk).update(summary_sent_at=call.summary_sent_at)
    return True


def outbound_caller_ids_register() -> list[str]:
    """Register the configured outbound caller IDs as official phone numbers (idempotent).

    ``OKWALLET_VOICE_OUTBOUND_CALLER_IDS`` lists the numbers callbacks are dialled from; the
    antifraud verifier reads ``contact.OfficialIdentity``, so a customer who checks the number
    that called them back hears that it really is us.
    """
    from okwallet.contact.models import OfficialIdentity

    configured = conf.get("OKWALLET_VOICE_OUTBOUND_CALLER_IDS")
    if isinstance(configured, str):
        configured = configured.split(",")
    numbers = [n.strip() for n in configured or [] if n.strip()]
    for number in numbers:
        OfficialIdentity.objects.get_or_create(
            kind="phone",
            value=number,
            defaults={"note_zh": "客服热线外呼号码", "note_en": "Hotline outbound caller ID (callbacks)"},
        )
    return numbers
