"""Callbacks worked to an end: claimed by the dialler, dialled, connected, recorded by the agent.

``CallbackRequest.status``: queued → dialling → connected → done. A leg the customer does not
answer (no-answer, busy, failed, the provider refused it, it got lost) → no_answer, due again
after a back-off (``OKWALLET_VOICE_CALLBACK_BACKOFF_S``, doubled for each further leg), and after
``OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS`` unanswered legs → failed (the customer is told by SMS).
A leg the customer answered but the agent did not (``agent_no_answer``) does not use up the
customer's tries: the agent's line is paused and the callback is due again a minute later.

Locking contract (every function documents which rows it expects locked):

- rows are locked in one order: CallbackRequest → CallbackAttempt → Call → AgentLine;
- ``callback_claim`` takes the next due callback with ``SELECT … FOR UPDATE SKIP LOCKED`` and then
  a free agent line the same way, so two dialler workers never take the same callback nor ring the
  same agent; the second simply gets the next one (PostgreSQL; SQLite runs one writer at a time);
- the leg's webhooks (connect, dial result, status) lock the callback, then the leg, then the call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from okwallet.accounts.phone import mask_phone
from okwallet.accounts.roles import SENIOR_MANAGER
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import InvalidInput, NotFound, OkError
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc
from okwallet.voice import conf, integrations, services
from okwallet.voice.models import AgentLine, Call, CallbackAttempt, CallbackRequest

log = logging.getLogger(__name__)

AGENT_MISSED = "agent_no_answer"
AGENT_MISSED_RETRY_S = 60
ENDED_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
OUTCOMES = ("done", "no_answer", "failed")


def max_attempts() -> int:
    return max(1, int(conf.get("OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS") or 3))


def backoff_seconds(unanswered: int) -> int:
    """The wait before the next leg after ``unanswered`` unanswered legs: base, 2×base, 4×base …"""
    base = int(conf.get("OKWALLET_VOICE_CALLBACK_BACKOFF_S") or 900)
    return min(base * 2 ** max(0, unanswered - 1), 4 * 3600)


def due_callbacks(*, now: datetime, lock: bool = False):
    """Callbacks the dialler may take now, most urgent first (priority, then the longest due).

    With ``lock`` (inside a transaction): ``FOR UPDATE SKIP LOCKED``, rows another worker holds
    are skipped rather than waited for.
    """
    qs = CallbackRequest.objects.filter(status__in=CallbackRequest.DUE, next_attempt_at__lte=now).order_by(
        "-priority", "next_attempt_at", "id"
    )
    return qs.select_for_update(skip_locked=True) if lock else qs


def free_agent_line(topic: str):
    """A ready agent who is not on a call (and for complaints a senior manager), locked SKIP LOCKED.

    The line unchanged for longest first (ready the earliest, or the longest since their last
    callback), so callbacks spread over the team.
    """
    lines = AgentLine.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        ready=True, current_call__isnull=True, agent__is_active=True
    )
    if services.TOPIC_QUEUE.get(topic, "person") == "complaints":
        lines = lines.filter(agent__groups__name=SENIOR_MANAGER)
    return lines.select_related("agent").order_by("updated_at", "id").first()


def outbound_caller_id() -> str:
    from okwallet.voice.selectors import outbound_caller_ids

    numbers = outbound_caller_ids() or integrations.hotline_numbers()
    return numbers[0] if numbers else ""


def callback_claim(*, now: datetime, provider_name: str = "sandbox") -> CallbackAttempt | None:
    """Take the next due callback and a free agent, and open a leg for them (status dialling).

    Call inside a transaction: the callback row, then the agent's line, are locked
    ``FOR UPDATE SKIP LOCKED`` until it commits. None when nothing is due or nobody is free.
    The leg's ``Call`` (outbound) becomes the agent's current call, so the agent counts as busy
    for inbound estimates and the dialler, and their console shows the screen-pop.
    """
    callback = due_callbacks(now=now, lock=True).first()
    if callback is None:
        return None
    line = free_agent_line(callback.topic)
    if line is None:
        return None
    agent = line.agent
    number = callback.attempts + 1
    language = "en" if (getattr(callback.customer, "preferred_language", "") or "").startswith("en") else "zh"
    call = Call.objects.create(
        call_sid=f"callback:{callback.pk}:{number}",
        provider=provider_name,
        direction="outbound",
        from_number=callback.phone,  # the customer's side, as for inbound calls
        to_number=outbound_caller_id()[:32],
        customer=callback.customer,
        identified_by="callback" if callback.customer_id else "",
        language=language,
        status=Call.Status.DIALLING,
        topic=callback.topic if callback.topic in Call.Topic.values else "",
        priority=callback.priority,
        node="callback_leg",
        ivr_path=["callback_leg"],
        data={"callback": callback.pk, "leg": number},
        reference=callback.call.reference if callback.call_id else "",
        agent=agent,
        started_at=now,
    )
    services.call_event_add(call=call, kind="callback_dialling", at=now, callback=callback.pk, leg=number)
    # updated_at moves on, so the next callback goes to the agent who has waited longest.
    AgentLine.objects.filter(pk=line.pk).update(current_call=call, updated_at=now_utc())
    attempt = CallbackAttempt.objects.create(
        callback=callback, number=number, agent=agent, call=call, provider=provider_name, started_at=now
    )
    callback.status = CallbackRequest.Status.DIALLING
    callback.attempts = number
    callback.assigned_to = agent
    callback.save(update_fields=["status", "attempts", "assigned_to"])
    from django.core.cache import cache

    cache.delete_many([f"voice:agents:{queue}" for queue in services.QUEUES])
    from okwallet.voice import events

    events.push(call, "ringing")
    return attempt


def callback_claim_next(
    *, now: datetime | None = None, provider_name: str = "sandbox"
) -> CallbackAttempt | None:
    """``callback_claim`` in its own transaction (the dialler's unit of work)."""
    with transaction.atomic(durable=True):
        return callback_claim(now=now or now_utc(), provider_name=provider_name)


def _locked(attempt_id: int) -> tuple[CallbackRequest, CallbackAttempt, Call | None] | None:
    """The leg's callback, the leg and its call, locked in the contract's order."""
    callback_id = CallbackAttempt.objects.filter(pk=attempt_id).values_list("callback_id", flat=True).first()
    if callback_id is None:
        return None
    callback = CallbackRequest.objects.select_for_update().get(pk=callback_id)
    attempt = CallbackAttempt.objects.select_for_update().get(pk=attempt_id)
    call = Call.objects.select_for_update().filter(pk=attempt.call_id).first() if attempt.call_id else None
    return callback, attempt, call


def callback_leg_placed(*, attempt_id: int, provider_sid: str) -> None:
    """The provider took the request: remember its call SID (a webhook may have told us first)."""
    with transaction.atomic():
        locked = _locked(attempt_id)
        if locked is None:
            return
        _callback, attempt, call = locked
        if not attempt.provider_sid:
            attempt.provider_sid = provider_sid[:64]
            attempt.save(update_fields=["provider_sid"])
        if call is not None and call.call_sid.startswith("callback:"):
            call.call_sid = provider_sid[:64]
            call.save(update_fields=["call_sid"])


def callback_leg_place_failed(*, attempt_id: int, error: str) -> None:
    """The provider refused the request (bad number, outage): the leg counts as unanswered."""
    with transaction.atomic():
        locked = _locked(attempt_id)
        if locked is None:
            return
        callback, attempt, call = locked
        attempt.error = error[:2000]
        _leg_unanswered(callback, attempt, call, result="provider_error", at=now_utc())


def leg_for_webhook(
    attempt_id: str, call_sid: str
) -> tuple[CallbackRequest, CallbackAttempt, Call | None] | None:
    """The locked (callback, leg, call) a signed outbound-leg webhook is about, or None.

    The leg id comes from the signed URL we gave the provider; the CallSid must be the leg's
    (or, when the provider's webhook beats its API answer, becomes it).
    """
    if not attempt_id.isdigit():
        return None
    locked = _locked(int(attempt_id))
    if locked is None:
        return None
    callback, attempt, call = locked
    if attempt.provider_sid and attempt.provider_sid != call_sid:
        return None
    if not attempt.provider_sid:
        attempt.provider_sid = call_sid[:64]
        attempt.save(update_fields=["provider_sid"])
        if call is not None and call.call_sid.startswith("callback:"):
            call.call_sid = call_sid[:64]
            call.save(update_fields=["call_sid"])
    return callback, attempt, call


def callback_leg_answered(
    callback: CallbackRequest, attempt: CallbackAttempt, call: Call | None, *, at: datetime
) -> bool:
    """The customer picked up (the provider fetched the connect TwiML): connected.

    Expects the three rows locked (``leg_for_webhook``). False when the leg is over already
    (the caller is then told goodbye), True when they are to be put through to the agent.
    """
    if attempt.status == CallbackAttempt.Status.CONNECTED:
        return True
    if attempt.status != CallbackAttempt.Status.DIALLING or not callback.is_open:
        return False
    attempt.status = CallbackAttempt.Status.CONNECTED
    attempt.answered_at = at
    attempt.save(update_fields=["status", "answered_at"])
    callback.status = CallbackRequest.Status.CONNECTED
    callback.connected_at = callback.connected_at or at
    callback.save(update_fields=["status", "connected_at"])
    if call is not None:
        services.call_mark_answered(call=call, agent=attempt.agent, at=at)
        call.save()
    return True


def callback_leg_dial_result(
    callback: CallbackRequest, attempt: CallbackAttempt, call: Call | None, *, dial_status: str, at: datetime
) -> bool:
    """The bridge to the agent ended. True when they talked; False when the agent did not answer.

    An agent who lets a callback ring out is paused (``voice.agent_auto_paused``) so the dialler
    stops ringing an empty desk; the customer's leg is counted as ``agent_no_answer``.
    """
    if dial_status in ("completed", "answered"):
        return True
    if attempt.status not in (CallbackAttempt.Status.CONNECTED, CallbackAttempt.Status.DIALLING):
        return False
    if attempt.agent_id:
        line = AgentLine.objects.select_for_update().filter(agent_id=attempt.agent_id).first()
        if line is not None and line.ready:
            line.ready = False
            line.save(update_fields=["ready", "updated_at"])
            audit_log_write(
                actor=None, action="voice.agent_auto_paused", obj=line, details={"callback": callback.pk}
            )
    _leg_unanswered(callback, attempt, call, result=AGENT_MISSED, at=at)
    return False


def callback_leg_ended(
    callback: CallbackRequest,
    attempt: CallbackAttempt,
    call: Call | None,
    *,
    provider_status: str,
    duration_s: int | None,
    at: datetime,
) -> None:
    """The provider reports the leg's end. Expects the rows locked (``leg_for_webhook``).

    After a conversation the callback stays ``connected`` until the agent records the outcome;
    a leg that never connected is unanswered (retry or fail). Repeated or late reports change nothing.
    """
    if attempt.status == CallbackAttempt.Status.CONNECTED:
        attempt.status = CallbackAttempt.Status.ENDED
        attempt.result = provider_status[:20]
        attempt.ended_at = at
        attempt.save(update_fields=["status", "result", "ended_at"])
        if call is not None and services.call_mark_ended(call=call, at=at, duration_s=duration_s):
            call.save()
        return
    if attempt.status == CallbackAttempt.Status.DIALLING:
        _leg_unanswered(
            callback, attempt, call, result=provider_status or "lost", at=at, duration_s=duration_s
        )
        return
    if call is not None and not call.is_ended:  # e.g. the agent missed it and the customer hung up
        if services.call_mark_ended(call=call, at=at, duration_s=duration_s):
            call.save()


def _leg_unanswered(
    callback: CallbackRequest,
    attempt: CallbackAttempt,
    call: Call | None,
    *,
    result: str,
    at: datetime,
    duration_s: int | None = None,
) -> None:
    """Close the leg as unanswered and decide: due again after a back-off, or failed."""
    attempt.status = CallbackAttempt.Status.UNANSWERED
    attempt.result = result[:20]
    attempt.ended_at = at
    attempt.save(update_fields=["status", "result", "ended_at", "error"])
    if call is not None:
        outcome = Call.Outcome.FAILED if result == AGENT_MISSED else Call.Outcome.NOT_REACHED
        if services.call_mark_ended(call=call, at=at, duration_s=duration_s, outcome=outcome):
            call.save()
    callback.last_result = result[:20]
    fields = ["last_result"]
    if callback.status in (CallbackRequest.Status.DIALLING, CallbackRequest.Status.CONNECTED):
        unanswered = (
            callback.legs.filter(status=CallbackAttempt.Status.UNANSWERED)
            .exclude(result=AGENT_MISSED)
            .count()
        )
        limit = max_attempts()
        if unanswered >= limit or callback.attempts >= 2 * limit:
            callback.status = CallbackRequest.Status.FAILED
            callback.done_at = at
            fields += ["status", "done_at"]
            audit_log_write(
                actor=None,
                action="voice.callback.failed",
                obj=callback,
                details={"legs": callback.attempts, "result": result},
            )
            notification_send(
                channel="sms",
                kind="voice.callback_failed",
                user=callback.customer,
                to=callback.phone,
                body=(
                    f"【OK钱包】我们按您的预约回电 {callback.attempts} 次未能接通。如仍需帮助，请致电客服热线"
                    "或在App内联系在线客服。客服不会索要验证码或密码。"
                ),
            )
        else:
            callback.status = CallbackRequest.Status.NO_ANSWER
            wait = AGENT_MISSED_RETRY_S if result == AGENT_MISSED else backoff_seconds(unanswered)
            callback.next_attempt_at = at + timedelta(seconds=wait)
            fields += ["status", "next_attempt_at"]
    callback.save(update_fields=fields)


def callbacks_sweep_lost(
    *, now: datetime | None = None, older_than: timedelta = timedelta(minutes=10)
) -> int:
    """Legs still dialling long after they were placed (no webhook came, or the worker died
    between claiming and placing) count as unanswered, so their callback moves on."""
    now = now or now_utc()
    swept = 0
    ids = CallbackAttempt.objects.filter(
        status=CallbackAttempt.Status.DIALLING, started_at__lt=now - older_than
    ).values_list("pk", flat=True)[:200]
    for attempt_id in ids:
        with transaction.atomic():
            locked = _locked(attempt_id)
            if locked is None or locked[1].status != CallbackAttempt.Status.DIALLING:
                continue
            _leg_unanswered(*locked, result="lost", at=now)
            swept += 1
    return swept


def access_callback(actor, callback_id: int, *, for_update: bool = False) -> CallbackRequest:
    """Staff with a console role may work any callback; nobody else may see one."""
    from okwallet.accounts.roles import is_staff_member
    from okwallet.core.errors import PermissionDenied

    if not is_staff_member(actor):
        raise PermissionDenied()
    qs = CallbackRequest.objects.select_related("call", "customer")
    if for_update:
        qs = qs.select_for_update(of=("self",))  # PostgreSQL: not the nullable joined rows
    callback = qs.filter(pk=callback_id).first()
    if callback is None:
        raise NotFound("callback_not_found")
    return callback


def _closed(callback: CallbackRequest) -> OkError:
    return OkError(
        "callback_closed",
        _("This callback is already closed (%(status)s).") % {"status": callback.get_status_display()},
        http_status=409,
    )


def _ticket_note(callback: CallbackRequest, *, actor, note: str) -> str:
    """Add the agent's note to the callback's ticket (the original call's), or open one."""
    body = (
        f"回电记录 / Callback\n{note}\n\n号码 Number: {mask_phone(callback.phone)}\n"
        f"尝试 Legs: {callback.attempts}"
    )
    number = callback.ticket_number or (callback.call.ticket_number if callback.call_id else "")
    ticket = integrations.ticket_by_number(number) if number else None
    if ticket is not None:
        integrations.ticket_add_message(
            ticket=ticket,
            body=body,
            author=actor,
            public=False,
            channel="phone",
            source_ref=f"callback:{callback.pk}:done",
        )
        return ticket.number
    call = callback.call
    if call is None:
        leg = callback.legs.exclude(call=None).select_related("call").last()
        call = leg.call if leg is not None else None
    if call is None:
        return ""
    ticket = services._ticket_for(
        call,
        channel="phone",
        subject=f"回电 {mask_phone(callback.phone)}".strip(),
        body=body,
        source_ref=f"callback:{callback.pk}",
        extra={"callback": callback.pk},
    )
    if ticket is None:
        return ""
    if callback.call_id and not callback.call.ticket_number:
        Call.objects.filter(pk=callback.call_id).update(ticket_number=ticket.number)
    return ticket.number


def callback_outcome_record(
    *, callback_id: int, actor, outcome: str, note: str = "", request=None
) -> CallbackRequest:
    """The agent records how the callback went: ``done`` (a note is required; the ticket is
    updated or opened and the customer gets its number by SMS), ``no_answer`` (call again after
    the back-off, or failed once the tries are used up) or ``failed`` (give up). Audited.

    Locks the callback row (its own transaction).
    """
    note = (note or "").strip()[:2000]
    if outcome not in OUTCOMES:
        raise InvalidInput("callback_bad_outcome", _("Choose done, no answer or not reached."))
    if outcome == "done" and not note:
        raise InvalidInput("callback_note_required", _("Write down what was agreed on the callback."))
    with transaction.atomic(durable=True):
        callback = access_callback(actor, callback_id, for_update=True)
        if not callback.is_open:
            raise _closed(callback)
        at = now_utc()
        if note:
            callback.note = (callback.note + "\n" + note).strip()
        if callback.assigned_to_id is None:
            callback.assigned_to = actor
        if outcome == "done":
            callback.status = CallbackRequest.Status.DONE
            callback.done_at = at
            callback.ticket_number = _ticket_note(callback, actor=actor, note=note) or callback.ticket_number
        elif outcome == "failed":
            callback.status = CallbackRequest.Status.FAILED
            callback.done_at = at
        else:
            unanswered = callback.legs.exclude(result=AGENT_MISSED).count() or 1
            if callback.attempts >= max_attempts():
                callback.status = CallbackRequest.Status.FAILED
                callback.done_at = at
            else:
                callback.status = CallbackRequest.Status.NO_ANSWER
                callback.next_attempt_at = at + timedelta(seconds=backoff_seconds(unanswered))
        callback.save()
        audit_log_write(
            actor=actor,
            action=f"voice.callback.{outcome}",
            obj=callback,
            request=request,
            details={"note": note, "ticket": callback.ticket_number, "status": callback.status},
        )
        if callback.status == CallbackRequest.Status.DONE:
            body = "【OK钱包】您预约的客服回电已完成"
            if callback.ticket_number:
                body += f"，工单号 {callback.ticket_number}，后续进展请以此查询"
            notification_send(
                channel="sms",
                kind="voice.callback_done",
                user=callback.customer,
                to=callback.phone,
                body=body + "。客服不会索要验证码或密码。",
            )
    return callback


MANUAL = {
    # status asked for → the statuses it may come from
    CallbackRequest.Status.QUEUED: {"queued", "no_answer", "failed"},  # dial (again) now
    CallbackRequest.Status.CANCELLED: {"queued", "no_answer", "failed"},
}


def callback_update(*, callback_id: int, actor, status: str, note: str = "", request=None) -> CallbackRequest:
    """Staff put a callback back in the queue to be dialled now, or cancel it. Audited.

    Dialling, connection and results are the dialler's and the agent's outcome's business
    (``callback_outcome_record``), not a status anyone picks by hand.
    """
    note = (note or "").strip()[:2000]
    with transaction.atomic(durable=True):
        callback = access_callback(actor, callback_id, for_update=True)
        if status not in MANUAL or callback.status not in MANUAL[status]:
            raise OkError(
                "callback_bad_transition",
                _("This callback cannot move from “%(old)s” to “%(new)s”.")
                % {"old": callback.get_status_display(), "new": status},
                http_status=409,
            )
        at = now_utc()
        if status == CallbackRequest.Status.QUEUED:
            callback.next_attempt_at = at
            callback.done_at = None
        else:
            callback.done_at = at
        callback.status = status
        if note:
            callback.note = (callback.note + "\n" + note).strip()
        callback.save()
        audit_log_write(
            actor=actor,
            action=f"voice.callback.{status}",
            obj=callback,
            request=request,
            details={"note": note},
        )
    return callback
