"""Agent console: look up a customer (masked) and freeze the account with a reason (audited)."""

from __future__ import annotations

from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from okwallet.accounts import selectors, services
from okwallet.accounts.masking import mask_email
from okwallet.accounts.models import User
from okwallet.accounts.phone import mask_phone
from okwallet.accounts.roles import is_staff_member
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import OkError, PermissionDenied


def staff_only(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_staff_member(request.user):
            raise PermissionDenied()
        return view(request, *args, **kwargs)

    return wrapper


class AgentFreezeForm(forms.Form):
    channel = forms.ChoiceField(
        label=gettext_lazy("How did the customer ask?"),
        choices=[
            ("hotline", gettext_lazy("Phone call (caller verified)")),
            ("agent", gettext_lazy("Agent decision")),
        ],
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason (kept in the audit log)"),
        min_length=3,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _find(q: str) -> User | None:
    q = (q or "").strip()
    user = selectors.customer_by_public_id(q) or selectors.customer_by_phone(q)
    if user is not None and user.status == User.Status.CLOSED:
        return None  # closed accounts are hidden from everyday search
    return user


@staff_only
@require_http_methods(["GET", "POST"])
def customer_security(request):
    q = request.GET.get("q", "") or request.POST.get("q", "")
    customer = _find(q) if q else None
    form = AgentFreezeForm(request.POST or None)
    status = 200
    if customer is not None and request.method == "GET":
        audit_log_write(
            actor=request.user, action="accounts.customer_security_viewed", obj=customer, request=request
        )
    if request.method == "POST" and customer is not None and form.is_valid():
        try:
            services.account_freeze(
                user=customer,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                channel=form.cleaned_data["channel"],
                request=request,
            )
        except OkError as exc:
            form.add_error(None, str(exc.message))
            status = exc.http_status
        else:
            messages.success(request, _("The account is frozen. The customer was told by SMS."))
            return redirect(f"{reverse('accounts:console_security')}?q={customer.public_id}")
    realname = selectors.realname_for(customer) if customer else None
    context = {
        "q": q,
        "customer": customer,
        "form": form,
        "phone_masked": mask_phone(customer.phone) if customer else "",
        "email_masked": mask_email(customer.email) if customer else "",
        "realname": realname,
        "age": selectors.customer_age(customer) if customer else None,
        "events": selectors.security_events_for(customer, limit=10) if customer else [],
    }
    return render(request, "accounts/console_security.html", context, status=status)
