"""The payment-class upgrade page: each verification source, its state, and a form to add it."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from okwallet.accounts import selectors, stepup, upgrade
from okwallet.accounts.forms import SourceCheckForm
from okwallet.accounts.identity import get_source_provider
from okwallet.accounts.models import User
from okwallet.accounts.paymentclass import SOURCE_LABELS, payment_class_overview
from okwallet.accounts.phone import mask_phone
from okwallet.accounts.views import _attempt, _page, customer_required
from okwallet.core.money import format_fen

PURPOSE = "realname_upgrade"


def _yuan(amount_fen: int) -> str:
    """1,000.00: the sentences around it carry the ¥ (translators place it)."""
    return format_fen(amount_fen, symbol="")


def _class_text(pc) -> str:
    if pc.period == "lifetime":
        return _("Class %(code)s: up to ¥%(limit)s out in total since opening.") % {
            "code": pc.code,
            "limit": _yuan(pc.limit_fen),
        }
    return _("Class %(code)s: up to ¥%(limit)s out per year.") % {
        "code": pc.code,
        "limit": _yuan(pc.limit_fen),
    }


def _form_for(row, data):
    provider = get_source_provider(row["source"])
    return SourceCheckForm(
        data,
        prefix=row["source"],
        needs=row["needs"],
        face_help=getattr(provider, "web_hint", ""),
    )


@customer_required
@require_http_methods(["GET", "POST"])
def realname_upgrade(request):
    user = request.user
    if selectors.realname_for(user) is None:
        messages.info(request, _("Verify your real name first: it is your first verification source."))
        return redirect("accounts:realname")
    here = reverse("accounts:realname_upgrade")
    step_up_url = f"{reverse('accounts:step_up')}?purpose={PURPOSE}&next={here}"
    frozen = user.status == User.Status.FROZEN
    posted = request.POST.get("source", "") if request.method == "POST" else ""
    if posted:
        if frozen:
            messages.error(
                request, _("Your account is frozen: unfreeze it before changing security settings.")
            )
            return redirect("accounts:realname_upgrade")
        if not stepup.step_up_passed(request, PURPOSE):
            messages.info(request, _("For your security, confirm it's you first. Then add the verification."))
            return redirect(step_up_url)
    rows = upgrade.sources_overview(user)
    status, error = 200, None
    for row in rows:
        row["form"] = None
        if row["how"] == "check" and not row["verified"] and not frozen:
            row["form"] = _form_for(row, request.POST if posted == row["source"] else None)
    target = next((r for r in rows if r["source"] == posted), None)
    if posted and (target is None or target["form"] is None):
        messages.info(request, _("That verification is already done or cannot be added here."))
        return redirect("accounts:realname_upgrade")
    if target is not None and target["form"].is_valid():
        form = target["form"]

        def add():
            stepup.step_up_require(request, PURPOSE, consume=False)
            return upgrade.realname_source_verify(
                user=user,
                source=posted,
                id_number=form.cleaned_data["id_number"],
                face_token=form.cleaned_data.get("face_token", ""),
                request=request,
            )

        result, status = _attempt(form, add)
        error = getattr(form, "ok_error", None)
        if result is not None:
            pc = selectors.payment_class_for(user)
            messages.success(
                request,
                _("Verified: %(source)s.") % {"source": SOURCE_LABELS[posted]()} + " " + _class_text(pc),
            )
            return redirect("accounts:realname_upgrade")
    overview = payment_class_overview(user)
    next_class = overview["upgrade"][0] if overview["upgrade"] else None
    context = {
        "pclass": overview,
        "limit": _yuan(overview["limit_fen"]),
        "used": _yuan(overview["used_fen"]) if overview["used_fen"] is not None else None,
        "remaining": _yuan(overview["remaining_fen"]) if overview["remaining_fen"] is not None else None,
        "next_class": next_class,
        "next_limit": _yuan(next_class["limit_fen"]) if next_class else None,
        "rows": rows,
        "verified_count": sum(1 for r in rows if r["verified"]),
        "stepped_up": stepup.step_up_passed(request, PURPOSE),
        "step_up_url": step_up_url,
        "frozen": frozen,
        "phone_masked": mask_phone(user.phone),
    }
    return _page(request, "accounts/realname_upgrade.html", context, status=status, error=error)
