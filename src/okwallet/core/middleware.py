import logging
import uuid

from django.db import OperationalError as DatabaseOperationalError
from django.shortcuts import render

from okwallet.core.errors import OkError, ServiceUnavailable

log = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Gives every request an id (kept from X-Request-ID when a proxy sets one) and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming[:64] if incoming.isascii() and incoming else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class OkErrorPageMiddleware:
    """Pages that raise OkError show a friendly page with the message, in the user's language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, OverflowError) and not request.path.startswith("/api/"):
            # An id in the address too large for the database: no such page.
            from okwallet.core.views import page_not_found

            return page_not_found(request)
        if isinstance(exception, DatabaseOperationalError) and not request.path.startswith("/api/"):
            # The database is out of reach (overload, failover): "try again", not a server error.
            log.exception("database unavailable on %s", request.path)
            exception = ServiceUnavailable()
        if isinstance(exception, OkError) and not request.path.startswith("/api/"):
            response = render(
                request,
                "core/error.html",
                {"error": exception, "status": exception.http_status},
                status=exception.http_status,
            )
            for name, value in exception.headers.items():
                response[name] = value
            return response
        return None


class ContentSecurityPolicyMiddleware:
    """A strict Content-Security-Policy: scripts only from our own origin or inline with this
    request's nonce (``<script nonce="{{ csp_nonce }}">``), no inline event handlers (``onclick=``),
    no eval. Styles may be inline (htmx injects its indicator style). Swagger UI at /api/v1/docs is
    served from django-ninja's static files, so it lives under the same policy."""

    POLICY = (
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
        "media-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import secrets

        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.POLICY.format(nonce=request.csp_nonce)
        return response


def csp_nonce(request) -> dict:
    """Context processor: ``{{ csp_nonce }}`` for the rare inline script."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
