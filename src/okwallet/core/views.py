"""Health checks and friendly error pages (JSON under /api/)."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks: dict[str, str] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, don't crash: this is the probe
        checks["database"] = f"error: {type(exc).__name__}"
        ok = False
    if settings.REDIS_URL:
        try:
            from okwallet.core import redis_client

            redis_client.get().ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
            ok = False
    from okwallet.core import readiness

    warming = readiness.pending()
    if ok and warming:
        # Up, but still loading what the first requests would otherwise wait for: not in rotation yet.
        return JsonResponse({"status": "warming", "checks": checks, "warming": warming}, status=503)
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


def _error(request, status: int, code: str, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "message": message, "details": {}}, status=status)
    return render(
        request,
        "core/error.html",
        {"status": status, "error": {"code": code, "message": message}},
        status=status,
    )


@requires_csrf_token
def bad_request(request, exception=None):
    return _error(request, 400, "bad_request", _("The request could not be understood."))


@requires_csrf_token
def permission_denied(request, exception=None):
    return _error(request, 403, "permission_denied", _("You do not have permission to view this page."))


@requires_csrf_token
def page_not_found(request, exception=None):
    return _error(request, 404, "not_found", _("We could not find that page."))


@requires_csrf_token
def server_error(request):
    return _error(
        request, 500, "server_error", _("Something went wrong on our side. Please try again later.")
    )


def csrf_failure(request, reason=""):
    return _error(
        request,
        403,
        "csrf_failed",
        _("Your session form expired or came from another site. Reload the page and try again."),
    )
