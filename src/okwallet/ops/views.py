from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from okwallet.core import metrics
from okwallet.core.errors import PermissionDenied
from okwallet.ops.access import is_supervisor, metrics_token_ok
from okwallet.ops.selectors import system_status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@never_cache
def metrics_view(request):
    """Prometheus scrape endpoint: a bearer token (OKWALLET_METRICS_TOKEN) or a signed-in supervisor."""
    token = metrics_token_ok(request)
    if token is False:
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if token is None and not is_supervisor(request.user):
        status = 403 if request.user.is_authenticated else 401
        response = HttpResponse(
            "metrics need a bearer token or a supervisor session\n", status=status, content_type="text/plain"
        )
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE)


def _supervisor_page(view):
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_supervisor(request.user):
            raise PermissionDenied()
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@never_cache
@_supervisor_page
def status_page(request):
    """Supervisors: services reachable, job backlog, worker, outbox, calendar, app lines, channels."""
    template = "ops/_status_body.html" if request.headers.get("HX-Request") else "ops/status.html"
    return render(request, template, {"status": system_status()})
