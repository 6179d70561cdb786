"""Portal pages for accounts and security. Thin: each view calls a flow and shows its message."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from okwallet.accounts import auth as login_flow
from okwallet.accounts import closure, conf, flows, selectors, services, sessions, stepup, twofactor
from okwallet.accounts.codes import code_send
from okwallet.accounts.forms import (
    ClosureForm,
    CodeForm,
    ContactConfirmForm,
    ContactStartForm,
    FreezeForm,
    LoginForm,
    NewPasswordForm,
    PasswordChangeForm,
    PhoneForm,
    RealNameForm,
    ResetIdentityForm,
    SecondFactorForm,
    SignupForm,
    UnfreezeForm,
)
from okwallet.accounts.masking import mask_email
from okwallet.accounts.models import ApiToken, User
from okwallet.accounts.paymentclass import SOURCE_LABELS, payment_class_overview
from okwallet.accounts.phone import mask_phone, normalise_phone_or_none
from okwallet.core.audit import audit_log_write
from okwallet.core.errors import OkError
from okwallet.core.money import format_fen
from okwallet.core.timeutil import format_local, now_utc

DEVICE_COOKIE_AGE = 60 * 60 * 24 * 400


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def customer_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('accounts:login')}?next={request.path}")
        if request.user.is_staff:
            return render(
                request,
                "core/error.html",
                {"error": OkError("customers_only", _("This page is for customer accounts.")), "status": 403},
                status=403,
            )
        return view(request, *args, **kwargs)

    return wrapper


def _attempt(form, fn):
    """Run a flow; an OkError becomes a form error. Returns (result, status)."""
    try:
        return fn(), 200
    except OkError as exc:
        form.add_error(None, str(exc.message))
        form.ok_error = exc
        return None, exc.http_status


def _page(request, template, context, status=200, error=None):
    response = render(request, template, context, status=status)
    if error is not None:
        for name, value in error.headers.items():
            response[name] = value
    return response


def _step(request, form, *, title, intro="", submit, status=200, extra=None, template="accounts/step.html"):
    context = {"form": form, "title": title, "intro": intro, "submit": submit, **(extra or {})}
    return _page(request, template, context, status=status, error=getattr(form, "ok_error", None))


# --- log in / out -------------------------------------------------------------------------------


def _finish_login(request, user, *, method: str):
    login(request, user, backend="okwallet.accounts.backends.IdentifierBackend")
    sessions.session_track(request=request, user=user)
    device_id = request.COOKIES.get(login_flow.DEVICE_COOKIE) or ""
    new_cookie = False
    if not device_id or len(device_id) > 100:
        device_id, new_cookie = login_flow.new_device_id(), True
    login_flow.login_completed(request=request, user=user, device_id=device_id, method=method)
    audit_log_write(actor=user, action="auth.login", obj=user, request=request)
    next_url = request.session.pop("okw_login_next", "") or ""
    default = "/console/" if user.is_staff else "/"
    if user.status == User.Status.FROZEN:
        messages.warning(request, _("Your account is frozen. Unfreeze it here when you are ready."))
        default = reverse("accounts:security")
    response = redirect(next_url or _safe_next(request, default))
    if new_cookie:
        response.set_cookie(
            login_flow.DEVICE_COOKIE,
            device_id,
            max_age=DEVICE_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response


@require_http_methods(["GET", "POST"])
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result, status = _attempt(
            form,
            lambda: login_flow.password_check(
                request=request,
                identifier=form.cleaned_data["identifier"],
                password=form.cleaned_data["password"],
            ),
        )
        if status == 401:  # wrong password: the form again, with the message (same for unknown accounts)
            status = 200
        if result is not None:
            if result.methods:
                request.session["okw_2fa"] = {"uid": result.user.pk, "methods": result.methods}
                request.session["okw_login_next"] = _safe_next(request, "")
                return redirect("accounts:login_verify")
            return _finish_login(request, result.user, method="password")
    return _page(
        request,
        "accounts/login.html",
        {"form": form, "next": request.GET.get("next", "")},
        status=status,
        error=getattr(form, "ok_error", None),
    )


@require_http_methods(["GET", "POST"])
def login_verify(request):
    pending = request.session.get("okw_2fa")
    user = User.objects.filter(pk=(pending or {}).get("uid"), is_active=True).first() if pending else None
    if user is None:
        return redirect("accounts:login")
    methods = pending["methods"]
    form = SecondFactorForm(
        request.POST if request.POST.get("action") != "send" else None,
        methods=methods,
        initial={"method": methods[0]},
    )
    status = 200
    if request.method == "POST" and request.POST.get("action") == "send":
        _result, status = _attempt(form, lambda: code_send(purpose="login", target=user.phone, user=user))
        if status == 200:
            messages.info(request, _("A code was sent to %(phone)s.") % {"phone": mask_phone(user.phone)})
    elif request.method == "POST" and form.is_valid():

        def check():
            login_flow.second_factor_guard(user=user)
            twofactor.second_factor_check(
                user=user, method=form.cleaned_data["method"], code=form.cleaned_data["code"], purpose="login"
            )

        _result, status = _attempt(form, check)
        if status == 200:
            del request.session["okw_2fa"]
            return _finish_login(request, user, method=form.cleaned_data["method"])
    return _step(
        request,
        form,
        title=_("Two-step verification"),
        intro=_("Enter the code from your authenticator app, a recovery code, or the SMS code."),
        submit=_("Verify and log in"),
        status=status,
        extra={"send_sms": "sms" in methods, "phone_masked": mask_phone(user.phone)},
        template="accounts/login_verify.html",
    )


@require_http_methods(["GET", "POST"])
def logout_view(request):
    if request.method == "POST":
        sessions.session_ended(session_key=request.session.session_key)
        logout(request)
        messages.info(request, _("You have logged out."))
        return redirect("portal:home")
    return render(request, "accounts/logout.html")


# --- sign up --------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup_start(request):
    form = PhoneForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        _r, status = _attempt(
            form, lambda: flows.signup_start(phone=form.cleaned_data["phone"], request=request)
        )
        if status == 200:
            request.session["okw_signup_phone"] = normalise_phone_or_none(form.cleaned_data["phone"])
            return redirect("accounts:signup_finish")
    return _step(
        request,
        form,
        title=_("Create your OK Wallet account"),
        intro=_("We send a 6-digit code by SMS to check the number is yours."),
        submit=_("Send code"),
        status=status,
        extra={"links": [(reverse("accounts:login"), _("I already have an account"))]},
    )


@require_http_methods(["GET", "POST"])
def signup_finish(request):
    phone = request.session.get("okw_signup_phone")
    if not phone:
        return redirect("accounts:signup")
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user, status = _attempt(
            form,
            lambda: flows.signup_complete(
                phone=phone,
                code=data["code"],
                password=data["password"],
                email=data["email"],
                display_name=data["display_name"],
                request=request,
            ),
        )
        if user is not None:
            del request.session["okw_signup_phone"]
            messages.success(
                request,
                _("Welcome! Your user ID is %(id)s. Complete real-name verification before sending money.")
                % {"id": user.public_id},
            )
            request.session["okw_login_next"] = reverse("accounts:realname")
            return _finish_login(request, user, method="signup")
    return _step(
        request,
        form,
        title=_("Finish signing up"),
        intro=_("We sent a code to %(phone)s. It is valid for 5 minutes.") % {"phone": mask_phone(phone)},
        submit=_("Create account"),
        status=status,
        extra={"strength": True},
    )


# --- forgotten password --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def reset_start(request):
    form = PhoneForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        _r, status = _attempt(
            form, lambda: flows.reset_start(phone=form.cleaned_data["phone"], request=request)
        )
        if status == 200:
            request.session["okw_reset_phone"] = normalise_phone_or_none(form.cleaned_data["phone"])
            return redirect("accounts:reset_code")
    return _step(
        request,
        form,
        title=_("Forgot your password?"),
        intro=_("Enter the mobile number of your account. We send a code to it to check it's you."),
        submit=_("Send code"),
        status=status,
    )


@require_http_methods(["GET", "POST"])
def reset_code(request):
    phone = request.session.get("okw_reset_phone")
    if not phone:
        return redirect("accounts:reset")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result, status = _attempt(
            form,
            lambda: flows.reset_verify_code(phone=phone, code=form.cleaned_data["code"], request=request),
        )
        if result is not None:
            if result.get("reset_token"):
                return redirect("accounts:reset_password", token=result["reset_token"])
            request.session["okw_reset_challenge"] = {
                "challenge": result["challenge"],
                "needs": result["needs"],
            }
            return redirect("accounts:reset_identity")
    return _step(
        request,
        form,
        title=_("Enter the code"),
        intro=_("If %(phone)s has an account, we sent a code to it. It is valid for 5 minutes.")
        % {"phone": mask_phone(phone)},
        submit=_("Continue"),
        status=status,
    )


@require_http_methods(["GET", "POST"])
def reset_identity(request):
    pending = request.session.get("okw_reset_challenge")
    if not pending:
        return redirect("accounts:reset")
    needs = pending["needs"]
    form = ResetIdentityForm(request.POST or None, needs=needs)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        token, status = _attempt(
            form,
            lambda: flows.reset_verify_identity(
                challenge=pending["challenge"],
                second_factor=data.get("second_factor", ""),
                method=data.get("method") or "totp",
                id_last6=data.get("id_last6", ""),
                request=request,
            ),
        )
        if token:
            request.session.pop("okw_reset_challenge", None)
            return redirect("accounts:reset_password", token=token)
    intro = (
        _(
            "Your account has two-step verification: enter a code from your authenticator app or a recovery code."
        )
        if "second_factor" in needs
        else _("Enter the last 6 characters of the ID number you verified your real name with.")
    )
    return _step(request, form, title=_("Confirm it's you"), intro=intro, submit=_("Continue"), status=status)


@require_http_methods(["GET", "POST"])
def reset_password(request, token: str):
    try:
        flows.reset_grant_user(token)
    except OkError as exc:
        return _page(
            request, "core/error.html", {"error": exc, "status": exc.http_status}, status=exc.http_status
        )
    form = NewPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        user, status = _attempt(
            form,
            lambda: flows.reset_complete(
                token=token, new_password=form.cleaned_data["password"], request=request
            ),
        )
        if user is not None:
            messages.success(
                request, _("Your password was changed and all devices were logged out. Log in now.")
            )
            return redirect("accounts:login")
    return _step(
        request,
        form,
        title=_("Choose a new password"),
        intro=_("All devices will be logged out after the change."),
        submit=_("Set new password"),
        status=status,
        extra={"strength": True},
    )


# --- "this wasn't me" ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def not_me(request, token: str):
    user, event_id = login_flow.not_me_user(token)
    if user is None:
        exc = OkError(
            "link_invalid", _("This link is not valid or has expired. Call us to freeze your account.")
        )
        return _page(request, "core/error.html", {"error": exc, "status": 400}, status=400)
    done = False
    if request.method == "POST":
        services.account_freeze(
            user=user, reason=f"not me (login event {event_id})", channel="alert", request=request
        )
        done = True
    return render(
        request, "accounts/not_me.html", {"done": done, "frozen": user.status == User.Status.FROZEN}
    )


# --- security centre ----------------------------------------------------------------------------------


@customer_required
def security(request):
    user = request.user
    pending = closure.pending_closure(user)
    context = {
        "u": user,
        "phone_masked": mask_phone(user.phone),
        "email_masked": mask_email(user.email),
        "realname": selectors.realname_for(user),
        "pclass": payment_class_overview(user),
        "totp": twofactor.totp_device(user) is not None,
        "recovery_left": twofactor.recovery_codes_left(user),
        "sessions_count": len(sessions.active_sessions(user))
        + ApiToken.objects.filter(user=user, revoked_at__isnull=True).count(),
        "events": selectors.security_events_for(user, limit=5),
        "pending_closure": pending,
        "reminder_choices": flows.REMINDER_CHOICES,
    }
    return render(request, "accounts/security.html", context)


@customer_required
def history(request):
    from okwallet.accounts.models import SecurityEvent

    page = Paginator(
        SecurityEvent.objects.filter(user=request.user).order_by("-created_at", "-id"), 25
    ).get_page(request.GET.get("page"))
    return render(request, "accounts/history.html", {"page": page})


@customer_required
@require_http_methods(["GET", "POST"])
def sessions_view(request):
    user = request.user
    if request.method == "POST":
        if request.POST.get("action") == "all":
            count = sessions.sessions_revoke_all(user=user, except_session_key=request.session.session_key)
            services.security_event_record(
                user=user, kind="logout_everywhere", request=request, details={"count": count}
            )
            messages.success(request, _("Logged out %(n)s other sessions and devices.") % {"n": count})
        else:
            kind, _sep, pk = (request.POST.get("session") or "").partition(":")
            done = False
            if kind == "web" and pk.isdigit():
                done = sessions.session_revoke(user=user, session_id=int(pk))
            elif kind == "app" and pk.isdigit():
                from django.utils import timezone

                done = bool(
                    ApiToken.objects.filter(user=user, pk=int(pk), revoked_at__isnull=True).update(
                        revoked_at=timezone.now()
                    )
                )
            if done:
                services.security_event_record(
                    user=user, kind="session_revoked", request=request, details={"kind": kind}
                )
                messages.success(request, _("That session was logged out."))
        return redirect("accounts:sessions")
    now = now_utc()
    rows = [
        {
            **row,
            "last_active": _relative(row["last_seen"], now),
            "last_active_at": format_local(row["last_seen"]),
        }
        for row in sessions.signed_in_list(user, current_key=request.session.session_key)
    ]
    return render(request, "accounts/sessions.html", {"rows": rows})


def _relative(moment, now) -> str:
    """ "just now", "5 minutes ago", "3 days ago" (the absolute time is shown next to it)."""
    from django.utils.timesince import timesince

    if moment is None:
        return ""
    if (now - moment).total_seconds() < 60:
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(moment, now, depth=1)}


def _need_step_up(request, purpose):
    if stepup.step_up_passed(request, purpose):
        return None
    return redirect(f"{reverse('accounts:step_up')}?purpose={purpose}&next={request.path}")


@customer_required
@require_http_methods(["GET", "POST"])
def step_up_view(request):
    purpose = request.GET.get("purpose") or request.POST.get("purpose") or ""
    if purpose not in stepup.PURPOSES:
        purpose = "security_settings"
    methods = stepup.step_up_methods(request.user)
    form = SecondFactorForm(
        request.POST if request.POST.get("action") != "send" else None,
        methods=methods,
        initial={"method": methods[0] if methods else ""},
    )
    status = 200
    if request.method == "POST" and request.POST.get("action") == "send":
        _r, status = _attempt(form, lambda: stepup.step_up_send_sms(request, purpose))
        if status == 200:
            messages.info(
                request, _("A code was sent to %(phone)s.") % {"phone": mask_phone(request.user.phone)}
            )
    elif request.method == "POST" and form.is_valid():
        _r, status = _attempt(
            form,
            lambda: stepup.step_up_verify(
                request, purpose=purpose, method=form.cleaned_data["method"], code=form.cleaned_data["code"]
            ),
        )
        if status == 200:
            return redirect(_safe_next(request, reverse("accounts:security")))
    return _step(
        request,
        form,
        title=_("Confirm it's you"),
        intro=_(
            "This is a sensitive action. Enter a code from your authenticator app or the SMS we send you."
        ),
        submit=_("Confirm"),
        status=status,
        extra={
            "send_sms": "sms" in methods,
            "phone_masked": mask_phone(request.user.phone),
            "purpose": purpose,
            "next": _safe_next(request, ""),
        },
        template="accounts/login_verify.html",
    )


@customer_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        user, status = _attempt(
            form,
            lambda: flows.password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                request=request,
            ),
        )
        if user is not None:  # this session was kept signed in (flows.password_change)
            messages.success(request, _("Your password was changed. Other devices were logged out."))
            return redirect("accounts:security")
    return _step(
        request,
        form,
        title=_("Change password"),
        submit=_("Change password"),
        status=status,
        extra={"strength": True},
    )


def _frozen_block(request):
    if request.user.status == User.Status.FROZEN:
        messages.error(request, _("Your account is frozen: unfreeze it before changing security settings."))
        return redirect("accounts:security")
    return None


@customer_required
@require_http_methods(["GET", "POST"])
def totp_view(request):
    user = request.user
    blocked = _frozen_block(request)
    if blocked:
        return blocked
    action = request.POST.get("action", "")
    form = CodeForm(request.POST if action == "confirm" else None)
    context = {
        "enabled": twofactor.totp_device(user) is not None,
        "form": form,
        "recovery_left": twofactor.recovery_codes_left(user),
    }
    status = 200
    if request.method == "POST" and action == "start":
        twofactor.totp_setup_start(user=user)
    if request.method == "POST" and action == "confirm" and form.is_valid():
        codes, status = _attempt(
            form, lambda: twofactor.totp_setup_confirm(user=user, token=form.cleaned_data["code"])
        )
        if codes:
            services.security_event_record(user=user, kind="totp_enabled", request=request)
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
    if request.method == "POST" and action in ("disable", "regenerate"):
        purpose = "disable_2fa" if action == "disable" else "security_settings"
        need = _need_step_up(request, purpose)
        if need:
            return redirect(
                f"{reverse('accounts:step_up')}?purpose={purpose}&next={reverse('accounts:totp')}"
            )
        stepup.step_up_require(request, purpose)
        if action == "disable":
            twofactor.totp_disable(user=user)
            services.security_event_record(user=user, kind="totp_disabled", request=request)
            messages.success(request, _("The authenticator app was turned off."))
            return redirect("accounts:security")
        codes = twofactor.recovery_codes_regenerate(user=user)
        services.security_event_record(user=user, kind="recovery_codes_regenerated", request=request)
        return render(request, "accounts/recovery_codes.html", {"codes": codes})
    pending = twofactor.totp_pending_device(user)
    if pending is not None and not context["enabled"]:
        uri = twofactor.totp_uri(pending, account_label=user.public_id or user.username)
        context.update(
            {
                "pending": True,
                "secret": twofactor.totp_secret_b32(pending),
                "qr_svg": twofactor.totp_qr_svg(uri),
                "uri": uri,
            }
        )
    return render(request, "accounts/totp.html", context, status=status)


@customer_required
@require_POST
def sms_factor(request):
    user = request.user
    blocked = _frozen_block(request)
    if blocked:
        return blocked
    enable = request.POST.get("enabled") == "1"
    if not enable:
        need = _need_step_up(request, "disable_2fa")
        if need:
            return redirect(
                f"{reverse('accounts:step_up')}?purpose=disable_2fa&next={reverse('accounts:security')}"
            )
        stepup.step_up_require(request, "disable_2fa")
    User.objects.filter(pk=user.pk).update(sms_second_factor=enable)
    services.security_event_record(
        user=user, kind="sms_2fa_enabled" if enable else "sms_2fa_disabled", request=request
    )
    messages.success(request, _("SMS login codes are on.") if enable else _("SMS login codes are off."))
    return redirect("accounts:security")


@customer_required
@require_http_methods(["GET", "POST"])
def freeze(request):
    form = FreezeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.account_freeze(
            user=request.user, reason=form.cleaned_data["reason"], channel="web", request=request
        )
        messages.success(
            request, _("Your account is frozen. Nobody can move money or change security settings.")
        )
        return redirect("accounts:security")
    return _step(
        request,
        form,
        title=_("Freeze my account"),
        intro=_(
            "Freezing takes effect at once: no money can leave and security settings can't be changed. "
            "Unfreezing later needs a full identity check."
        ),
        submit=_("Freeze now"),
        extra={"danger": True},
    )


@customer_required
@require_http_methods(["GET", "POST"])
def unfreeze(request):
    user = request.user
    if user.status != User.Status.FROZEN:
        return redirect("accounts:security")
    needs = flows.unfreeze_requirements(user)
    action = request.POST.get("action", "")
    form = UnfreezeForm(request.POST if action != "send" and request.method == "POST" else None, needs=needs)
    status = 200
    if action == "send":
        _r, status = _attempt(form, lambda: flows.unfreeze_send_code(user=user))
        if status == 200:
            messages.info(request, _("A code was sent to %(phone)s.") % {"phone": mask_phone(user.phone)})
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done, status = _attempt(
            form,
            lambda: flows.unfreeze_verify(
                user=user,
                password=data["password"],
                sms_code=data["sms_code"],
                second_factor=data.get("second_factor", ""),
                method=data.get("method") or "totp",
                id_last6=data.get("id_last6", ""),
                request=request,
            ),
        )
        if done is not None:
            messages.success(request, _("Your account is unfrozen."))
            return redirect("accounts:security")
    return _step(
        request,
        form,
        title=_("Unfreeze my account"),
        intro=_(
            "Unfreezing needs a full identity check: your password, an SMS code and, if set up, your second factor and ID digits."
        ),
        submit=_("Unfreeze"),
        status=status,
        extra={"send_sms": True, "phone_masked": mask_phone(user.phone)},
        template="accounts/login_verify.html",
    )


@customer_required
@require_http_methods(["GET", "POST"])
def contact_change(request, kind: str):
    if kind not in ("phone", "email"):
        return redirect("accounts:security")
    user = request.user
    blocked = _frozen_block(request)
    if blocked:
        return blocked
    session_key = f"okw_contact_{kind}"
    pending = request.session.get(session_key)
    status = 200
    if pending and request.POST.get("action") != "restart":
        form = ContactConfirmForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done, status = _attempt(
                form,
                lambda: flows.contact_change_confirm(
                    user=user,
                    kind=kind,
                    new_value=pending,
                    old_code=form.cleaned_data["old_code"],
                    new_code=form.cleaned_data["new_code"],
                    request=request,
                ),
            )
            if done is not None:
                del request.session[session_key]
                messages.success(request, _("Your contact details were updated."))
                return redirect("accounts:security")
        return _step(
            request,
            form,
            title=_("Confirm the change"),
            intro=_("We sent one code to your current contact and one to %(new)s.") % {"new": pending},
            submit=_("Confirm change"),
            status=status,
        )
    form = ContactStartForm(request.POST if request.POST.get("action") != "restart" else None)
    form.fields["new_value"].label = _("New mobile number") if kind == "phone" else _("New email address")
    if request.method == "POST" and form.is_bound and form.is_valid():
        new, status = _attempt(
            form,
            lambda: flows.contact_change_start(
                user=user, kind=kind, new_value=form.cleaned_data["new_value"]
            ),
        )
        if new:
            request.session[session_key] = new
            return redirect("accounts:contact_change", kind=kind)
    return _step(
        request,
        form,
        title=_("Change mobile number") if kind == "phone" else _("Change email address"),
        intro=_("We check both the current and the new contact with a code."),
        submit=_("Send codes"),
        status=status,
    )


@customer_required
@require_http_methods(["GET", "POST"])
def email_verify(request):
    user = request.user
    if not user.email or user.email_verified:
        return redirect("accounts:security")
    form = CodeForm(request.POST if request.POST.get("action") != "send" else None)
    status = 200
    if request.POST.get("action") == "send":
        _r, status = _attempt(form, lambda: flows.email_verify_send(user=user))
        if status == 200:
            messages.info(request, _("A code was sent to %(email)s.") % {"email": mask_email(user.email)})
    elif request.method == "POST" and form.is_valid():
        done, status = _attempt(
            form,
            lambda: flows.email_verify_confirm(
                user=user, email=user.email, code=form.cleaned_data["code"], request=request
            ),
        )
        if done is not None:
            messages.success(request, _("Your email address is verified."))
            return redirect("accounts:security")
    return _step(
        request,
        form,
        title=_("Verify your email"),
        intro=_("Enter the code we sent to %(email)s.") % {"email": mask_email(user.email)},
        submit=_("Verify"),
        status=status,
        extra={"send_email": True},
        template="accounts/login_verify.html",
    )


@customer_required
@require_http_methods(["GET", "POST"])
def realname(request):
    user = request.user
    rn = selectors.realname_for(user)
    form = RealNameForm(request.POST or None) if rn is None else None
    status = 200
    if form is not None and request.method == "POST" and form.is_valid():
        result, status = _attempt(
            form,
            lambda: services.realname_verify(
                user=user,
                name=form.cleaned_data["name"],
                id_number=form.cleaned_data["id_number"],
                request=request,
            ),
        )
        if result is not None:
            messages.success(request, _("Real-name verification complete."))
            return redirect("accounts:realname")
    overview = payment_class_overview(user)
    upgrade = [
        {
            **row,
            "limit": format_fen(row["limit_fen"], symbol=""),
            "missing_labels": [SOURCE_LABELS[m]() for m in row["missing"]],
        }
        for row in overview["upgrade"]
    ]
    context = {
        "form": form,
        "realname": rn,
        "pclass": overview,
        "limit": format_fen(overview["limit_fen"], symbol=""),
        "used": format_fen(overview["used_fen"], symbol="") if overview["used_fen"] is not None else None,
        "remaining": format_fen(overview["remaining_fen"], symbol="")
        if overview["remaining_fen"] is not None
        else None,
        "upgrade": upgrade,
        "source_labels": [SOURCE_LABELS.get(s, lambda s=s: s)() for s in overview["sources"]],
    }
    return _page(
        request, "accounts/realname.html", context, status=status, error=getattr(form, "ok_error", None)
    )


@customer_required
@require_http_methods(["GET", "POST"])
def closure_view(request):
    user = request.user
    pending = closure.pending_closure(user)
    form = ClosureForm(request.POST if request.POST.get("action") == "request" else None)
    status = 200
    if request.method == "POST" and request.POST.get("action") == "cancel" and pending:
        closure.closure_cancel(user=user, request=request)
        messages.success(request, _("The closure was cancelled. Your account is active again."))
        return redirect("accounts:closure")
    blockers = [] if pending else closure.closure_blockers(user)
    if (
        request.method == "POST"
        and request.POST.get("action") == "request"
        and form.is_valid()
        and not pending
    ):
        if not blockers:
            request.session["okw_closure_reason"] = form.cleaned_data["reason"]
            need = _need_step_up(request, "closure")
            if need:
                return redirect(
                    f"{reverse('accounts:step_up')}?purpose=closure&next={reverse('accounts:closure')}"
                )

            def go():
                stepup.step_up_require(request, "closure")
                return closure.closure_request(user=user, reason=form.cleaned_data["reason"], request=request)

            row, status = _attempt(form, go)
            if row is not None:
                messages.success(
                    request,
                    _("Closure requested. You can cancel until %(date)s.")
                    % {"date": row.effective_at.date()},
                )
                return redirect("accounts:closure")
    elif (
        request.method == "GET"
        and not pending
        and stepup.step_up_passed(request, "closure")
        and request.session.get("okw_closure_reason") is not None
    ):
        form = ClosureForm(initial={"reason": request.session.get("okw_closure_reason")})
    return render(
        request,
        "accounts/closure.html",
        {
            "form": form,
            "pending": pending,
            "blockers": blockers,
            "cooling_off_days": conf.get("OKWALLET_CLOSURE_COOLING_OFF_DAYS"),
            "retention_years": conf.get("OKWALLET_RETENTION_YEARS"),
            "stepped_up": stepup.step_up_passed(request, "closure"),
        },
        status=status,
    )


@customer_required
@require_POST
def password_reminder(request):
    try:
        days = int(request.POST.get("days", "0"))
        flows.password_reminder_set(user=request.user, days=days, request=request)
    except (ValueError, OkError):
        messages.error(request, _("Choose one of the offered reminder periods."))
    else:
        messages.success(request, _("Reminder saved."))
    return redirect("accounts:security")
