from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from okwallet.accounts import conf
from okwallet.antifraud.forms import ReportForm, VerifyForm
from okwallet.antifraud.services import scam_report_create
from okwallet.antifraud.verifier import verify
from okwallet.core import ratelimit
from okwallet.core.audit import client_ip
from okwallet.core.errors import OkError


def security_centre(request):
    return render(request, "antifraud/centre.html", {"form": VerifyForm()})


def verify_view(request):
    form = VerifyForm(request.GET or None)
    verdict = None
    status = 200
    if form.is_bound and form.is_valid():
        try:
            ratelimit.enforce(conf.rl(f"verify:ip:{client_ip(request)}"), limit=60, window_seconds=60)
            verdict = verify(form.cleaned_data["q"])
        except OkError as exc:
            form.add_error(None, str(exc.message))
            status = exc.http_status
    return render(request, "antifraud/verify.html", {"form": form, "verdict": verdict}, status=status)


@require_http_methods(["GET", "POST"])
def report_view(request):
    form = ReportForm(request.POST or None, initial={"value": request.GET.get("value", "")})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            ratelimit.enforce(conf.rl(f"scamreport:ip:{client_ip(request)}"), limit=10, window_seconds=3600)
            report = scam_report_create(**form.cleaned_data, reporter=request.user, request=request)
        except OkError as exc:
            form.add_error(None, str(exc.message))
            status = exc.http_status
        else:
            messages.success(
                request,
                _("Thank you. Your report %(ref)s reached our security team.") % {"ref": report.reference},
            )
            return redirect("antifraud:centre")
    return render(request, "antifraud/report.html", {"form": form}, status=status)
