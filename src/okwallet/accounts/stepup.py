"""Step-up verification before sensitive actions (withdrawal, new payee, contact change,
disabling 2FA, closure, unfreezing, raising the payment-account class).

    from okwallet.accounts.stepup import step_up_require
    step_up_require(request, "withdrawal")   # raises OkError("step_up_required", 403) unless passed

A pass (second factor, or an SMS code to the registered phone) is valid for 5 minutes for one
purpose in one web session or app token, and is used up by the action it allowed.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from okwallet.accounts import conf
from okwallet.accounts.models import StepUpGrant
from okwallet.accounts.twofactor import second_factor_check, second_factor_methods
from okwallet.core import ratelimit
from okwallet.core.errors import NotAuthenticated, OkError
from okwallet.core.timeutil import now_utc

PURPOSES = (
    "withdrawal",
    "new_payee",
    "contact_change",
    "disable_2fa",
    "closure",
    "unfreeze",
    "security_settings",
    "realname_upgrade",  # adding verification sources (raises the payment-account limits)
)


def _holder(request) -> str:
    token = getattr(request, "api_token", None)
    if token is not None:
        return f"t:{token.pk}"
    if not request.session.session_key:
        request.session.save()
    return f"s:{request.session.session_key}"


def _user(request):
    user = getattr(request, "auth", None) or getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    return user


def step_up_methods(user) -> list[str]:
    methods = second_factor_methods(user)
    if "sms" not in methods and user.phone:
        methods.append("sms")
    return methods


def step_up_passed(request, purpose: str) -> bool:
    user = _user(request)
    return StepUpGrant.objects.filter(
        user=user, purpose=purpose, holder=_holder(request), used_at__isnull=True, expires_at__gt=now_utc()
    ).exists()


def step_up_require(request, purpose: str, *, consume: bool = True) -> None:
    """Raise ``step_up_required`` (403) unless a fresh check for ``purpose`` passed in this session."""
    user = _user(request)
    with transaction.atomic():
        grant = (
            StepUpGrant.objects.select_for_update()
            .filter(
                user=user,
                purpose=purpose,
                holder=_holder(request),
                used_at__isnull=True,
                expires_at__gt=now_utc(),
            )
            .first()
        )
        if grant is not None:
            if consume:
                grant.used_at = now_utc()
                grant.save(update_fields=["used_at"])
            return
    raise OkError(
        "step_up_required",
        _("For your security, confirm it's you first."),
        http_status=403,
        details={"purpose": purpose, "methods": step_up_methods(user), "verify": "/api/v1/security/step-up"},
    )


def step_up_send_sms(request, purpose: str):
    from okwallet.accounts.codes import code_send

    user = _user(request)
    if not user.phone:
        raise OkError("no_phone", _("There is no mobile number on this account."), http_status=409)
    return code_send(purpose="step_up", target=user.phone, user=user)


def step_up_verify(request, *, purpose: str, method: str, code: str) -> StepUpGrant:
    """Check the code and record a pass for ``purpose`` in this session/token."""
    if purpose not in PURPOSES:
        raise OkError("unknown_purpose", _("Unknown security check."), http_status=422)
    user = _user(request)
    ratelimit.enforce(conf.rl(f"stepup:{user.pk}"), limit=10, window_seconds=900)
    if method not in step_up_methods(user):
        raise OkError(
            "second_factor_method",
            _("That verification method is not set up for this account."),
            http_status=422,
        )
    second_factor_check(user=user, method=method, code=code, purpose="step_up")
    from okwallet.accounts.services import security_event_record

    grant = StepUpGrant.objects.create(
        user=user,
        purpose=purpose,
        holder=_holder(request),
        expires_at=now_utc() + timedelta(seconds=conf.get("OKWALLET_STEP_UP_SECONDS")),
    )
    security_event_record(
        user=user, kind="step_up_passed", request=request, details={"purpose": purpose, "method": method}
    )
    return grant
