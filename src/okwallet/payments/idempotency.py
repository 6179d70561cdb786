"""``Idempotency-Key`` for the API calls that move money (Stripe's model).

A client picks a key per request it means to make once (a UUID) and sends it in the
``Idempotency-Key`` header. The first request with the key claims it; its status code and body
are stored with a fingerprint of the request (method, path, body). A retry with the same key and
the same request gets the stored answer (``Idempotent-Replayed: true``) and moves nothing; the
same key with another request is refused (422 ``idempotency_key_reused``); a duplicate that
arrives while the first is still running is refused (409 ``idempotency_key_in_progress``) and may
be retried a moment later. Keys belong to one caller (customer or agent): another caller's key
never collides with or reveals yours. They expire after 24 hours (``idempotency_keys_purge``).

Answers that say "try again" are not stored, so the same key may be used again: server errors
(5xx), 401, 429 and the 403s that ask for a fresh security check or a CSRF token. Every other
answer is stored, errors included: a refused request moved no money, and its retry tells the
same story. A request without the header behaves as before (no protection against retries).

Usage, under the router's decorator::

    @router.post("/wallet/transfers", response={201: TransferOut})
    @idempotent
    def transfer_create(request, payload: TransferIn): ...

The claim is committed before the endpoint runs (its own short transaction), so a concurrent
duplicate sees it; the answer is stored after the endpoint's response is rendered (ninja's
``run``), so the stored body is byte for byte what the first caller got.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import partial, wraps

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput, OkError
from okwallet.core.timeutil import now_utc
from okwallet.payments.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_TTL = timedelta(hours=24)
# A claim still "in progress" after this long belongs to a request that died (a killed worker):
# it is never run again automatically, because it may have moved money before it died.
STALE_AFTER = timedelta(minutes=2)
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as in an HTTP header token
TRANSIENT_CODES = frozenset({"step_up_required", "csrf_failed", "rate_limited", "not_authenticated"})
OPENAPI_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Recommended: a unique key (e.g. a UUID) per intended operation. A retry with the "
    "same key and body returns the first answer and moves no money again (kept 24 hours).",
}


@dataclass
class Claim:
    record: IdempotencyKey | None = None  # ours to finish (the request runs)
    replay: IdempotencyKey | None = None  # a finished request with the same key and fingerprint


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """SHA-256 over the method, the path with its query and the body (JSON in a canonical form,
    so whitespace or key order do not make a retry look like another request)."""
    try:
        canonical = json.dumps(
            json.loads(body or b"null"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:
        canonical = bytes(body or b"")
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim(
    *, user, key: str, fingerprint: str, method: str = "", path: str = "", now=None
) -> Claim:
    """Claim ``key`` for ``user`` or find its earlier use. Raises ``OkError``:
    ``idempotency_key_invalid`` (400), ``idempotency_key_reused`` (422, other request),
    ``idempotency_key_in_progress`` (409), ``idempotency_key_interrupted`` (409, its request died).

    Concurrency: the unique (user, key) index decides between simultaneous first requests; the
    loser reads the winner's row. An expired row is deleted and the key claimed afresh."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(
            "idempotency_key_invalid",
            _("The Idempotency-Key header must be 1 to 255 visible ASCII characters, e.g. a UUID."),
            http_status=400,
        )
    now = now or now_utc()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    fingerprint=fingerprint,
                    method=method[:8],
                    path=path[:200],
                    created_at=now,
                    expires_at=now + KEY_TTL,
                )
            return Claim(record=record)
        except IntegrityError:
            pass
        existing = IdempotencyKey.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # released or purged in between: claim again
        if existing.expires_at <= now:
            IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise InvalidInput(
                "idempotency_key_reused",
                _(
                    "This Idempotency-Key was already used for a different request. Use a new key for a new operation."
                ),
                details={"first_used_at": existing.created_at.isoformat()},
            )
        if existing.state == IdempotencyKey.State.DONE:
            return Claim(replay=existing)
        if now - existing.created_at > STALE_AFTER:
            raise OkError(
                "idempotency_key_interrupted",
                _(
                    "The first request with this key was interrupted. Check your transaction records before trying again with a new key."
                ),
                http_status=409,
                details={"first_used_at": existing.created_at.isoformat()},
            )
        raise OkError(
            "idempotency_key_in_progress",
            _("A request with this Idempotency-Key is still being processed. Try again in a moment."),
            http_status=409,
            headers={"Retry-After": "1"},
        )
    raise OkError(  # pragma: no cover - three lost races in a row
        "idempotency_key_in_progress",
        _("A request with this Idempotency-Key is still being processed. Try again in a moment."),
        http_status=409,
        headers={"Retry-After": "1"},
    )


def idempotency_finish(*, record: IdempotencyKey, status: int, body: bytes, code: str = "") -> bool:
    """Store the answer of a claimed request, or release the key when the answer says "try
    again" (see the module docstring). Returns True when stored."""
    if status >= 500 or status in (401, 429) or code in TRANSIENT_CODES:
        IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_PROGRESS).delete()
        return False
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.DONE,
        response_status=status,
        response_body=bytes(body).decode("utf-8", "replace"),
    )
    return True


def idempotency_keys_purge(*, now=None) -> int:
    """Delete keys past their 24 hours (the hourly job). Returns how many went."""
    deleted, _by_model = IdempotencyKey.objects.filter(expires_at__lte=now or now_utc()).delete()
    return deleted


def replay_response(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        record.response_body.encode(), status=record.response_status, content_type="application/json"
    )
    response[REPLAYED_HEADER] = "true"
    return response


def _error_code(response) -> str:
    if "json" not in response.get("Content-Type", ""):
        return ""
    try:
        return str(json.loads(response.content).get("code", ""))
    except (ValueError, AttributeError):
        return ""


def _store_after_run(run):
    """Wraps ninja's ``Operation.run``: the rendered response of a claimed request is stored."""

    @wraps(run)
    def wrapper(request, *args, **kwargs):
        response = run(request, *args, **kwargs)
        record = getattr(request, "_okw_idempotency", None)
        if record is not None:
            request._okw_idempotency = None
            idempotency_finish(
                record=record,
                status=response.status_code,
                body=getattr(response, "content", b""),
                code=_error_code(response) if response.status_code >= 400 else "",
            )
        return response

    return wrapper


def _apply_to_operation(operation) -> None:
    # Registered like ninja's decorate_view, so a router's clone of the operation keeps it.
    if not hasattr(operation, "_run_decorators"):
        operation._run_decorators = []
    operation.run = _store_after_run(operation.run)
    operation._run_decorators.append(_store_after_run)
    extra = operation.openapi_extra or {}
    params = [p for p in extra.get("parameters", []) if p.get("name") != HEADER]
    operation.openapi_extra = {**extra, "parameters": [*params, OPENAPI_PARAMETER]}


def idempotent(view):
    """Make a ninja endpoint honour ``Idempotency-Key`` (put it under ``@router.post``)."""
    from ninja.utils import contribute_operation_callback

    @wraps(view)
    def claimed(request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(request, *args, **kwargs)
        claim = idempotency_claim(
            user=request.auth,
            key=key,
            fingerprint=request_fingerprint(
                method=request.method, path=request.get_full_path(), body=request.body
            ),
            method=request.method,
            path=request.path,
        )
        if claim.replay is not None:
            return replay_response(claim.replay)
        request._okw_idempotency = claim.record
        return view(request, *args, **kwargs)

    # ninja reads the parameters from the signature; resolve the view's (string) annotations in
    # its own module, not in this one.
    claimed.__signature__ = inspect.signature(view, eval_str=True)
    contribute_operation_callback(claimed, partial(_apply_to_operation))
    return claimed
