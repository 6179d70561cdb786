"""The generic CTI webhook API, for a PBX other than Twilio (Asterisk, FreeSWITCH, ...).

``POST /api/v1/voice/cti/events`` with a JSON body and two headers:

- ``X-OKW-Timestamp``: Unix seconds; requests older or newer than 5 minutes are refused.
- ``X-OKW-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``"<timestamp>.<raw body>"`` with the
  shared secret ``OKWALLET_VOICE_CTI_SECRET``.

Events: ``new_call`` (call_id, from, to), ``ivr`` (node, digits), ``queued`` (queue),
``answer`` (agent = the agent's username), ``hangup`` (duration_s). Every request is stored
raw first; ``(call_id, event, sequence)`` makes a redelivery a no-op. See docs/hotline.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Literal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema
from pydantic import Field, ValidationError

from okwallet.core.errors import InvalidInput, NotFound, OkError, PermissionDenied
from okwallet.core.timeutil import now_utc
from okwallet.voice import conf, services
from okwallet.voice.models import Call, WebhookEvent, raw_text

router = Router(tags=["voice"])
MAX_SKEW_S = 300


class CtiEventIn(Schema):
    event: Literal["new_call", "ivr", "queued", "answer", "hangup"]
    call_id: str = Field(min_length=1, max_length=64)
    sequence: int | str = ""
    from_number: str = Field("", alias="from", max_length=32)
    to: str = Field("", max_length=32)
    queue: str = Field("", max_length=20)
    node: str = Field("", max_length=30)
    digits: str = Field("", max_length=40)
    agent: str = Field("", max_length=150)
    duration_s: int | None = Field(None, ge=0, le=86400)


class CtiEventOut(Schema):
    status: Literal["processed", "duplicate", "ignored"]
    call_id: str
    call_status: str
    outcome: str
    reason: str = ""


def cti_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def _verify(request) -> None:
    secret = conf.get("OKWALLET_VOICE_CTI_SECRET") or ""
    timestamp = request.headers.get("X-OKW-Timestamp", "")
    signature = request.headers.get("X-OKW-Signature", "")
    if not secret or not timestamp or not signature:
        raise PermissionDenied("cti_signature_missing", _("The request is not signed."))
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError:
        skew = MAX_SKEW_S + 1
    if skew > MAX_SKEW_S or not hmac.compare_digest(
        cti_signature(secret, timestamp, request.body), signature
    ):
        raise PermissionDenied("cti_signature_invalid", _("The request signature is not valid."))


@router.post(
    "/voice/cti/events",
    auth=None,
    response=CtiEventOut,
    summary="CTI event from a PBX (new call, IVR input, queued, answer, hangup), HMAC-signed",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": CtiEventIn.model_json_schema(by_alias=True)}},
            "required": True,
        }
    },
)
def cti_event(request):
    valid = True
    try:
        _verify(request)
    except PermissionDenied:
        valid = False
    row = WebhookEvent.objects.create(
        provider="cti",
        kind="cti",
        url=request.get_full_path()[:2000],
        headers={h: request.headers.get(h, "") for h in ("X-OKW-Timestamp", "X-OKW-Signature", "User-Agent")},
        body=raw_text(request.body[:65536]),
        signature_valid=valid,
        status=WebhookEvent.Status.RECEIVED if valid else WebhookEvent.Status.REJECTED,
    )
    if not valid:
        _verify(request)  # raises the precise 403
    try:
        data = CtiEventIn.model_validate(json.loads(request.body or b"{}"))
    except (ValueError, ValidationError) as exc:
        WebhookEvent.objects.filter(pk=row.pk).update(
            status=WebhookEvent.Status.FAILED, error=str(exc)[:2000]
        )
        raise InvalidInput(details={"errors": str(exc)[:500]}) from exc
    # Without a sequence number, an IVR step is identified by its node and digits.
    detail = data.sequence if data.sequence != "" else f"{data.node}:{data.digits}:{data.queue}"
    key = f"cti:{data.call_id}:{data.event}:{detail}"
    try:
        with transaction.atomic():
            WebhookEvent.objects.filter(pk=row.pk).update(dedupe_key=key[:200], call_sid=data.call_id)
    except IntegrityError:
        call = Call.objects.filter(call_sid=f"cti:{data.call_id}").first()
        WebhookEvent.objects.filter(pk=row.pk).update(status=WebhookEvent.Status.PROCESSED, error="duplicate")
        return _out("duplicate", data.call_id, call)
    try:
        status, reason, call = _apply(data)
    except OkError as exc:
        WebhookEvent.objects.filter(pk=row.pk).update(
            status=WebhookEvent.Status.FAILED, error=exc.code, dedupe_key=None, processed_at=now_utc()
        )
        raise
    WebhookEvent.objects.filter(pk=row.pk).update(
        status=WebhookEvent.Status.PROCESSED, processed_at=now_utc(), response_status=200
    )
    return _out(status, data.call_id, call, reason)


def _out(status: str, call_id: str, call: Call | None, reason: str = "") -> dict:
    return {
        "status": status,
        "call_id": call_id,
        "call_status": call.status if call else "",
        "outcome": call.outcome if call else "",
        "reason": reason,
    }


@transaction.atomic
def _apply(data: CtiEventIn) -> tuple[str, str, Call]:
    sid = f"cti:{data.call_id}"
    at = now_utc()
    if data.event in ("new_call", "hangup"):
        call, _created = services.call_start(
            call_sid=sid, from_number=data.from_number, to_number=data.to, provider="cti", at=at
        )
    else:
        call = Call.objects.select_for_update().filter(call_sid=sid).first()
        if call is None:
            raise NotFound("call_not_found", _("No call with this ID: send new_call first."))
    status, reason = "processed", ""
    if data.event == "ivr":
        services.call_note_input(call=call, node=data.node or "pbx", digits=data.digits, at=at)
        services.call_path_add(call=call, step=f"{data.node or 'pbx'}:{data.digits}"[:60])
    elif data.event == "queued":
        if call.is_ended:
            status, reason = "ignored", "call_ended"
        else:
            queue = data.queue if data.queue in services.QUEUES else "person"
            services.call_enqueue(call=call, queue=queue, at=at)
    elif data.event == "answer":
        from okwallet.accounts.models import User
        from okwallet.accounts.roles import is_staff_member

        agent = User.objects.filter(username=data.agent).first() if data.agent else None
        if agent is not None and not is_staff_member(agent):
            agent = None
        if not services.call_mark_answered(call=call, agent=agent, at=at):
            status, reason = "ignored", "call_ended"
    elif data.event == "hangup":
        if not services.call_mark_ended(call=call, at=at, duration_s=data.duration_s):
            status, reason = "ignored", "already_ended"
    call.save()
    return status, reason, call
