"""The REST API at /api/v1/: every app's router, one error shape, OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from okwallet.api.auth import DEFAULT_AUTH
from okwallet.api.parsers import StrictJsonParser
from okwallet.core.errors import OkError, ServiceUnavailable

log = logging.getLogger(__name__)

# Every operation may answer with the one error shape; documented once here so each router
# need not list them (schemathesis checks responses against this schema).
ERROR_STATUSES = {
    "400": "Bad request",
    "401": "Not authenticated",
    "403": "Permission denied or CSRF failure",
    "404": "Not found",
    "405": "Method not allowed",
    "409": "Conflict with the current state",
    "413": "Body too large",
    "415": "Unsupported media type",
    "422": "Invalid input",
    "429": "Too many requests (see Retry-After)",
    "503": "Temporarily unavailable, try again (see Retry-After)",
}
ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string", "description": "stable error code, e.g. exceeds_credits"},
        "message": {"type": "string", "description": "in the user's language"},
        "details": {"type": "object"},
    },
}


class OkWalletAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                for status, description in ERROR_STATUSES.items():
                    operation["responses"].setdefault(status, {"description": description, **ref})
        return schema


api = OkWalletAPI(
    title="OK Wallet API",
    version="1",
    description="OK钱包 API。Errors always come as {code, message, details}. "
    "Authenticate with the web session (CSRF token on writes) or `Authorization: Bearer <token>`.",
    urls_namespace="api",
    auth=DEFAULT_AUTH,
    parser=StrictJsonParser(),
)


def error_response(request, status: int, code: str, message, details=None, headers=None):
    response = api.create_response(
        request, {"code": code, "message": str(message), "details": details or {}}, status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(OkError)
def _ok_error(request, exc: OkError):
    body = exc.as_dict()
    return error_response(
        request, exc.http_status, body["code"], body["message"], body["details"], exc.headers
    )


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    fields = []
    for err in exc.errors:
        loc = [str(part) for part in err.get("loc", []) if part not in ("body", "payload")]
        fields.append(
            {"field": ".".join(loc), "error": err.get("type", "invalid"), "message": err.get("msg", "")}
        )
    return error_response(
        request,
        422,
        "invalid_input",
        _("Some of the information you entered is not valid."),
        {"fields": fields},
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return error_response(request, 401, "not_authenticated", _("Please log in first."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, OkError):  # raised by our parser inside ninja's body parsing
        return _ok_error(request, exc.__cause__)
    if exc.status_code == 403 and "CSRF" in str(exc):
        return error_response(
            request,
            403,
            "csrf_failed",
            _("The security token is missing or expired. Reload the page and try again."),
        )
    codes = {
        400: "bad_request",
        401: "not_authenticated",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        429: "rate_limited",
    }
    return error_response(request, exc.status_code, codes.get(exc.status_code, "error"), str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, 404, "not_found", _("The requested item was not found."))


@api.exception_handler(DjangoPermissionDenied)
def _forbidden(request, exc):
    return error_response(request, 403, "permission_denied", _("You do not have permission to do this."))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return error_response(request, 413, "payload_too_large", _("The request body is too large."))


@api.exception_handler(OverflowError)
def _number_out_of_range(request, exc):
    # An id or amount larger than the database's 64-bit integers: nothing can match it.
    return error_response(request, 422, "number_out_of_range", _("A number in the request is out of range."))


@api.exception_handler(DatabaseOperationalError)
def _database_unavailable(request, exc):
    # Overload or a failover, not a bug in the request: a 503 the client may retry, never a 500.
    # (bench/soak.py: a burst of password checks held every pooled connection past its timeout.)
    log.exception("database unavailable on %s", request.path)
    return _ok_error(request, ServiceUnavailable(details={"request_id": getattr(request, "request_id", "")}))


@api.exception_handler(Exception)
def _unexpected(request, exc):
    log.exception("unhandled API error on %s", request.path)
    return error_response(
        request,
        500,
        "server_error",
        _("Something went wrong on our side. Please try again later."),
        {"request_id": getattr(request, "request_id", "")},
    )


def _register_routers() -> None:
    """Every domain app with an ``api.py`` that defines ``router`` is mounted at /api/v1/."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.conf import settings

    for app in settings.OKWALLET_APPS:
        module_name = f"okwallet.{app}.api"
        if find_spec(module_name) is None:
            continue
        router = getattr(import_module(module_name), "router", None)
        if router is not None:
            api.add_router("", router)


_register_routers()
