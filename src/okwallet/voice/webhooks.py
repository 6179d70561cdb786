"""Inbound webhooks: store raw, check the signature, deduplicate, lock the call, run the flow.

1. Every request is written to ``WebhookEvent`` first, in its own transaction (one INSERT in
   autocommit mode, committed before anything else runs), so nothing is lost even when
   processing fails.
2. A bad or missing signature: the row is marked rejected, the answer is 403, nothing else
   happens.
3. ``dedupe_key`` (CallSid + kind + sequence) is unique: a redelivered webhook answers with
   the stored response (or, if the first delivery is still running, asks to retry in a second).
4. Processing is one transaction: the call row is locked (``select_for_update``) while the
   flow runs, so two webhooks of one call never interleave; the call is written once at the end
   (a new call is inserted in its final state, a known one updates only the fields that
   changed), its timeline events in one bulk INSERT, and the answer is recorded on the raw row.
   Requests for a node the call has left (an old ``seq``) re-prompt the current node instead of
   consuming stale input. A typical webhook is six statements: the raw INSERT, then BEGIN,
   SELECT … FOR UPDATE, UPDATE call, UPDATE raw row, COMMIT (``scripts/voice_webhook_cost.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.http import HttpResponse

from okwallet.core.timeutil import now_utc
from okwallet.voice import conf, flow, services
from okwallet.voice import twilio as adapter
from okwallet.voice.models import Call, WebhookEvent, raw_text

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
HEADERS_KEPT = (
    "User-Agent",
    "Content-Type",
    "X-Twilio-Signature",
    "I-Twilio-Idempotency-Token",
    "X-Forwarded-For",
)


def _params(request) -> dict:
    source = request.POST if request.method == "POST" else request.GET
    return {key: source.get(key) for key in source}


def _store_raw(
    request, *, kind: str, params: dict, valid: bool, raw: bytes, dedupe_key: str | None
) -> WebhookEvent:
    """One INSERT, committed on its own: the raw request survives whatever happens next.

    In autocommit mode (every real request: the webhook views are ``non_atomic_requests``, so
    not even ATOMIC_REQUESTS wraps them) the INSERT is its own transaction and is committed when
    it returns. Inside an enclosing
    transaction (tests) a savepoint keeps a duplicate key from breaking that transaction.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            return _insert_raw(request, kind=kind, params=params, valid=valid, raw=raw, dedupe_key=dedupe_key)
    return _insert_raw(request, kind=kind, params=params, valid=valid, raw=raw, dedupe_key=dedupe_key)


def _insert_raw(
    request, *, kind: str, params: dict, valid: bool, raw: bytes, dedupe_key: str | None
) -> WebhookEvent:
    return WebhookEvent.objects.create(
        provider="twilio",
        kind=kind,
        call_sid=(params.get("CallSid") or "")[:64],
        dedupe_key=dedupe_key[:200] if dedupe_key else None,
        url=adapter.request_url(request)[:2000],
        method=request.method,
        headers={h: request.headers.get(h, "") for h in HEADERS_KEPT if request.headers.get(h)},
        body=raw_text(raw),
        signature_valid=valid,
        status=WebhookEvent.Status.RECEIVED if valid else WebhookEvent.Status.REJECTED,
    )


def _twiml(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


def handle(request, *, kind: str, dedupe: Callable[[dict], str | None], process: Callable) -> HttpResponse:
    """Run one Twilio webhook through the pipeline; ``process(call_sid, params)`` returns TwiML."""
    raw = request.body[:MAX_BODY]  # read before the form parser consumes the stream
    params = _params(request)
    valid = adapter.signature_valid(request, params)
    call_sid = params.get("CallSid") or ""
    key = dedupe(params) if valid and call_sid else None
    try:
        event = _store_raw(request, kind=kind, params=params, valid=valid, raw=raw, dedupe_key=key)
    except IntegrityError:
        return _redelivery(request, kind=kind, params=params, valid=valid, raw=raw, key=key)
    except DatabaseError:
        # Nothing could be stored, so nothing may be processed: 503 makes the provider use its
        # fallback URL / retry, and the request is not lost on our side by pretending it was handled.
        log.exception("voice webhook %s could not be stored", kind)
        return HttpResponse("temporarily unavailable", status=503, content_type="text/plain")
    if not valid:
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    return _process(request, event=event, kind=kind, call_sid=call_sid, params=params, process=process)


def _redelivery(request, *, kind: str, params: dict, valid: bool, raw: bytes, key: str) -> HttpResponse:
    """A redelivery: kept raw too (without the key), answered as the first delivery was."""
    _store_raw(request, kind=kind, params=params, valid=valid, raw=raw, dedupe_key=None)
    first = WebhookEvent.objects.filter(dedupe_key=key[:200]).first()
    if first is not None and first.status == WebhookEvent.Status.PROCESSED:
        return _twiml(first.response_body, first.response_status or 200)
    return _twiml(adapter.render_retry(request.get_full_path()))


def _process(
    request, *, event: WebhookEvent, kind: str, call_sid: str, params: dict, process: Callable
) -> HttpResponse:
    if not call_sid:
        _finish(event, status=WebhookEvent.Status.FAILED, code=400, body="", error="missing CallSid")
        return HttpResponse("missing CallSid", status=400, content_type="text/plain")
    try:
        with transaction.atomic():
            body = process(call_sid, params)
            _finish(event, status=WebhookEvent.Status.PROCESSED, code=200, body=body)
    except Exception as exc:  # the caller must hear something sensible; the raw request is kept
        log.exception("voice webhook %s failed for %s", kind, call_sid)
        body = adapter.render_apology()
        try:
            _finish(
                event,
                status=WebhookEvent.Status.FAILED,
                code=200,
                body=body,
                error=f"{type(exc).__name__}: {exc}",
            )
        except DatabaseError:  # the raw row stays "received": the repair job and the log show it
            log.exception("voice webhook %s: could not record the failure", kind)
    return _twiml(body)


def _finish(event: WebhookEvent, *, status: str, code: int, body: str, error: str = "") -> None:
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=status, response_status=code, response_body=body, error=error[:2000], processed_at=now_utc()
    )


def _lock(call_sid: str) -> Call | None:
    """The call, locked for this transaction, collecting its events for one bulk INSERT."""
    call = Call.objects.select_for_update().filter(call_sid=call_sid).first()
    if call is not None:
        call.buffer_events()
    return call


def _start(call_sid: str, params: dict, ctx) -> Call:
    call, _created = services.call_start(
        call_sid=call_sid,
        from_number=params.get("From", ""),
        to_number=params.get("To", ""),
        at=ctx.now,
        deferred=True,
    )
    return call


def _awaits_input(action) -> bool:
    # The queue's callback offer is answered whenever it comes (its seq is not checked).
    if isinstance(action, flow.Gather):
        return action.node != "queue_wait"
    return isinstance(action, flow.Record)


def _respond(call: Call, actions: list) -> str:
    """Write the call once and answer. ``seq`` moves on only when the answer asks for input
    (its action URL carries the new ``seq``): a hold announcement changes nothing to write."""
    if any(_awaits_input(action) for action in actions):
        call.seq += 1
    call.save_changes()
    return adapter.render(actions, call=call)


# --- the webhooks --------------------------------------------------------------------------
def process_incoming(call_sid: str, params: dict) -> str:
    ctx = flow.Context.current()
    call = _start(call_sid, params, ctx)
    return _respond(call, flow.on_start(call, ctx))


def process_gather(call_sid: str, params: dict, *, node: str, seq: str) -> str:
    ctx = flow.Context.current()
    call = _lock(call_sid)
    if call is None:
        # Unknown call: start it properly rather than act on input we have no context for.
        call = _start(call_sid, params, ctx)
        return _respond(call, flow.on_start(call, ctx))
    if call.is_ended:
        return _respond(call, flow.on_input(call, ctx, node))
    if node != "queue_wait" and (not seq.isdigit() or int(seq) != call.seq or node != call.node):
        services.call_event_add(
            call=call, kind="stale_input", at=ctx.now, node=node, seq=seq, current=call.node
        )
        return _respond(call, flow.render_node(call, ctx, call.node))
    return _respond(
        call,
        flow.on_input(
            call, ctx, node, digits=params.get("Digits", ""), speech=params.get("SpeechResult", "")
        ),
    )


def process_wait(call_sid: str, params: dict) -> str:
    ctx = flow.Context.current()
    call = _lock(call_sid)
    if call is None:
        return adapter.render([flow.Hangup()], call=None)
    return _respond(call, flow.on_wait(call, ctx))


def process_queue_exit(call_sid: str, params: dict) -> str:
    ctx = flow.Context.current()
    call = _lock(call_sid)
    if call is None:
        return adapter.render([flow.Hangup()], call=None)
    result = (params.get("QueueResult") or "").lower()
    if result == "hangup":
        services.call_mark_ended(call=call, at=ctx.now)
    return _respond(call, flow.on_queue_exit(call, ctx, result))


def process_bridge(call_sid: str, params: dict, *, agent_id: str) -> str:
    """The agent's softphone dequeued this caller: the call is answered by that agent."""
    from okwallet.accounts.models import User
    from okwallet.accounts.roles import is_staff_member

    ctx = flow.Context.current()
    call = _lock(call_sid)
    if call is None:
        return adapter.render([], call=None)
    agent = User.objects.filter(pk=int(agent_id)).first() if agent_id.isdigit() else None
    if agent is not None and not is_staff_member(agent):
        agent = None
    services.call_mark_answered(call=call, agent=agent, at=ctx.now)
    call.save_changes()
    return adapter.render([], call=call)


def process_recorded(call_sid: str, params: dict) -> str:
    ctx = flow.Context.current()
    call = _lock(call_sid)
    if call is None:
        call, _created = services.call_start(
            call_sid=call_sid, from_number=params.get("From", ""), at=ctx.now
        )
    try:
        duration = int(params.get("RecordingDuration") or 0)
    except ValueError:
        duration = 0
    actions = flow.on_recorded(
        call,
        ctx,
        recording_sid=(params.get("RecordingSid") or "")[:64],
        recording_url=(params.get("RecordingUrl") or "")[:500],
        duration_s=duration,
    )
    return _respond(call, actions)


ENDED_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}


def process_status(call_sid: str, params: dict) -> str:
    """Status callbacks (ringing, in-progress, completed, ...), possibly out of order.

    A ``completed`` for a call we never saw still creates its row (nothing lost); a
    ``ringing`` after ``completed`` changes nothing.
    """
    ctx = flow.Context.current()
    status = (params.get("CallStatus") or "").lower()
    call = _start(call_sid, params, ctx)
    services.call_event_add(
        call=call, kind=f"status:{status}"[:30], at=ctx.now, seq=params.get("SequenceNumber", "")
    )
    if status in ENDED_STATUSES:
        try:
            duration = int(params.get("CallDuration")) if params.get("CallDuration") else None
        except ValueError:
            duration = None
        outcome = (
            Call.Outcome.FAILED
            if status in {"busy", "failed", "no-answer", "canceled"} and not call.ivr_path
            else None
        )
        services.call_mark_ended(call=call, at=ctx.now, duration_s=duration, outcome=outcome)
    call.save_changes()
    return adapter.render([], call=None)


# --- the outbound (callback) leg -------------------------------------------------------------
def _leg_or_hangup(call_sid: str, leg: str):
    from okwallet.voice import services_callbacks

    return services_callbacks.leg_for_webhook(leg, call_sid)


def process_callback_connect(call_sid: str, params: dict, *, leg: str) -> str:
    """The customer answered the callback: greet, warn, bridge to the agent (or say goodbye)."""
    from okwallet.voice import services_callbacks

    locked = _leg_or_hangup(call_sid, leg)
    if locked is None or locked[2] is None:
        return adapter.render([flow.Hangup()], call=None)
    callback, attempt, call = locked
    at = now_utc()
    if attempt.agent is None or not services_callbacks.callback_leg_answered(callback, attempt, call, at=at):
        return adapter.render(flow.callback_over(call), call=None)
    ring = min(60, int(conf.get("OKWALLET_VOICE_CALLBACK_RING_S") or 30))
    return adapter.render(
        flow.callback_connect(call, agent=attempt.agent.username, leg=attempt.pk, timeout_s=ring), call=None
    )


def process_callback_result(call_sid: str, params: dict, *, leg: str) -> str:
    """The bridge to the agent ended: goodbye, or (the agent did not answer) an apology."""
    from okwallet.voice import services_callbacks

    locked = _leg_or_hangup(call_sid, leg)
    if locked is None or locked[2] is None:
        return adapter.render([flow.Hangup()], call=None)
    callback, attempt, call = locked
    status = (params.get("DialCallStatus") or "").lower()
    services.call_event_add(call=call, kind=f"dial:{status}"[:30], at=now_utc())
    if services_callbacks.callback_leg_dial_result(callback, attempt, call, dial_status=status, at=now_utc()):
        return adapter.render([flow.Hangup()], call=None)
    return adapter.render(flow.callback_agent_missed(call), call=None)


def process_callback_status(call_sid: str, params: dict, *, leg: str) -> str:
    """The leg's progress (initiated, ringing, answered, completed, no-answer, busy, ...)."""
    from okwallet.voice import services_callbacks

    locked = _leg_or_hangup(call_sid, leg)
    if locked is None:
        return adapter.render([], call=None)
    callback, attempt, call = locked
    status = (params.get("CallStatus") or "").lower()
    at = now_utc()
    if call is not None:
        services.call_event_add(
            call=call, kind=f"status:{status}"[:30], at=at, seq=params.get("SequenceNumber", "")
        )
    if status in services_callbacks.ENDED_STATUSES:
        try:
            duration = int(params.get("CallDuration")) if params.get("CallDuration") else None
        except ValueError:
            duration = None
        services_callbacks.callback_leg_ended(
            callback, attempt, call, provider_status=status, duration_s=duration, at=at
        )
    return adapter.render([], call=None)
