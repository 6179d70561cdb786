"""The callback dialler: in hotline hours, ring customers who asked to be called back.

Each round (the Huey task ``dial_due_callbacks``, every minute; any number of workers may run
it at once):

1. outside hotline hours (the hours app, or ``OKWALLET_VOICE_HOURS_OVERRIDE``) nothing is dialled;
   while callers are waiting in a queue, live callers come first and nothing is dialled either;
2. ``callback_claim_next`` takes the most urgent due callback and a free agent in one short
   transaction (``FOR UPDATE SKIP LOCKED``: a second worker takes the next one) and commits the
   leg as ``dialling`` before anything leaves the building;
3. the provider (``voice/outbound.py``) is asked to ring the customer, outside any transaction,
   with our signed webhook URLs: ``callback-connect`` (TwiML when they answer: a greeting, then
   ``<Dial><Client>agent</Client></Dial>``), ``callback-result`` (the bridge's end) and
   ``callback-status`` (the leg's progress);
4. a refused request counts as an unanswered leg (retried after the back-off); a worker that dies
   between 2 and 3 leaves a leg that ``callbacks_sweep_lost`` closes ten minutes later.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from okwallet.voice import conf, outbound, services_callbacks
from okwallet.voice.models import CallbackAttempt

log = logging.getLogger(__name__)

AGENT_RING_S = 20


def public_url(name: str, **query) -> str:
    """An absolute URL of ours for the provider (``OKWALLET_VOICE_PUBLIC_URL``, else localhost)."""
    base = (conf.get("OKWALLET_VOICE_PUBLIC_URL") or "http://localhost:8000").rstrip("/")
    path = reverse(f"voice:{name}")
    return f"{base}{path}?{urlencode(query)}" if query else f"{base}{path}"


def place(attempt: CallbackAttempt, *, provider: outbound.OutboundProvider) -> bool:
    """Ask the provider to ring the leg's customer. True when it took the request."""
    callback = attempt.callback
    try:
        placed = provider.place_call(
            to=callback.phone,
            from_=services_callbacks.outbound_caller_id(),
            url=public_url("twilio_callback_connect", leg=attempt.pk),
            status_callback=public_url("twilio_callback_status", leg=attempt.pk),
            timeout_s=int(conf.get("OKWALLET_VOICE_CALLBACK_RING_S") or 30),
        )
    except outbound.OutboundError as exc:
        log.warning("callback %s leg %s refused by %s: %s", callback.pk, attempt.number, provider.name, exc)
        services_callbacks.callback_leg_place_failed(attempt_id=attempt.pk, error=str(exc))
        return False
    except Exception as exc:  # network errors, timeouts: the leg is unanswered, tried again later
        log.exception("callback %s leg %s: placing the call failed", callback.pk, attempt.number)
        services_callbacks.callback_leg_place_failed(
            attempt_id=attempt.pk, error=f"{type(exc).__name__}: {exc}"
        )
        return False
    services_callbacks.callback_leg_placed(attempt_id=attempt.pk, provider_sid=placed.sid)
    return True


def dial_due(*, now: datetime | None = None, limit: int = 10) -> list[int]:
    """One round: claim and place up to ``limit`` due callbacks. Returns the legs placed."""
    from okwallet.voice.flow import Context
    from okwallet.voice.selectors import waiting_calls

    ctx = Context.current(now)
    if not ctx.is_open:
        return []
    if waiting_calls().exists():
        return []
    provider = outbound.provider()
    if provider.name == "sandbox" and getattr(settings, "PRODUCTION", False):
        log.warning("callback dialler: OKWALLET_VOICE_OUTBOUND_PROVIDER is the sandbox; no customer is rung")
    placed = []
    for _ in range(limit):
        attempt = services_callbacks.callback_claim_next(now=ctx.now, provider_name=provider.name)
        if attempt is None:
            break
        if place(attempt, provider=provider):
            placed.append(attempt.pk)
    return placed
