"""Customer security flows: sign-up, email verification, password change and reset,
unfreeze, contact-detail change. Each step checks a code or a pass and is audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from okwallet.accounts import conf
from okwallet.accounts.auth import login_unlock
from okwallet.accounts.codes import code_check, code_send, send_limits_enforce
from okwallet.accounts.models import RealName, ResetGrant, User
from okwallet.accounts.phone import normalise_phone
from okwallet.accounts.services import account_unfreeze, customer_create, security_event_record
from okwallet.accounts.sessions import session_keep_after_password_change, sessions_revoke_all
from okwallet.accounts.twofactor import second_factor_check, second_factor_methods
from okwallet.core import ratelimit
from okwallet.core.audit import client_ip
from okwallet.core.errors import InvalidInput, OkError
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc

RESET_GRANT_MINUTES = 15


def password_validate(password: str, *, user) -> None:
    """Raise InvalidInput('weak_password') listing every rule the password breaks, each its own message."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        problems = [{"code": e.code or "invalid", "message": " ".join(e.messages)} for e in exc.error_list]
        raise InvalidInput(
            "weak_password", " ".join(p["message"] for p in problems), details={"problems": problems}
        ) from None


def clean_email(email: str) -> str:
    email = (email or "").strip()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("invalid_email", gettext_lazy("Enter a valid email address.")) from None
    return email.lower()


# --- sign-up ---------------------------------------------------------------------------------


def signup_start(*, phone: str, request=None) -> None:
    """Send a sign-up code. A number that already has an account gets a hint instead (same answer)."""
    e164 = normalise_phone(phone)
    if request is not None:
        ratelimit.enforce(conf.rl(f"signup:ip:{client_ip(request)}"), limit=20, window_seconds=3600)
    existing = User.objects.filter(phone=e164).first()
    if existing is not None:
        send_limits_enforce(e164)
        notification_send(
            channel="sms",
            kind="signup_existing",
            to=e164,
            body=_(
                "[OK Wallet] Someone tried to sign up with this number, which already has an account. "
                "Log in instead, or use 'Forgot password'. If it wasn't you, ignore this message."
            ),
        )
        return
    code_send(purpose="signup", target=e164)


def signup_complete(
    *, phone: str, code: str, password: str, email: str = "", display_name: str = "", request=None
) -> User:
    e164 = normalise_phone(phone)
    email = clean_email(email)
    display_name = (display_name or "").strip()[:60]
    password_validate(password, user=User(phone=e164, email=email))
    code_check(purpose="signup", target=e164, code=code)  # outside the transaction: wrong tries count
    with transaction.atomic():
        return _signup_create(
            e164=e164, password=password, email=email, display_name=display_name, request=request
        )


def _signup_create(*, e164: str, password: str, email: str, display_name: str, request) -> User:
    if User.objects.filter(phone=e164).exists():
        raise OkError(
            "phone_taken",
            gettext_lazy("This mobile number already has an account. Log in instead."),
            http_status=409,
        )
    user = customer_create(
        phone=e164, password=password, email=email, display_name=display_name, phone_verified=True
    )
    user.password_changed_at = now_utc()
    user.save(update_fields=["password_changed_at"])
    security_event_record(user=user, kind="signed_up", request=request)
    if email:
        code_send(purpose="verify_email", target=email, user=user, channel="email")
    return user


def email_verify_send(*, user, email: str | None = None) -> None:
    email = clean_email(email if email is not None else user.email)
    if not email:
        raise InvalidInput("invalid_email", gettext_lazy("Enter a valid email address."))
    if email != user.email:
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise OkError(
                "email_taken", gettext_lazy("This email address is used by another account."), http_status=409
            )
    code_send(purpose="verify_email", target=email, user=user, channel="email")


def email_verify_confirm(*, user, email: str, code: str, request=None) -> User:
    email = clean_email(email)
    code_check(purpose="verify_email", target=email, code=code)
    user.email = email
    user.email_verified = True
    if user.contact_bounced == "email":
        user.contact_bounced = ""
    user.save(update_fields=["email", "email_verified", "contact_bounced"])
    security_event_record(user=user, kind="email_verified", request=request)
    return user


# --- password change / reset --------------------------------------------------------------------


def _assert_not_frozen(user) -> None:
    if User.objects.filter(pk=user.pk, status=User.Status.FROZEN).exists():
        raise OkError(
            "account_frozen",
            gettext_lazy("Your account is frozen: unfreeze it before changing security settings."),
            http_status=403,
        )


@transaction.atomic
def password_change(*, user, old_password: str, new_password: str, request=None) -> User:
    _assert_not_frozen(user)
    if not user.check_password(old_password):
        raise InvalidInput("wrong_password", gettext_lazy("Your current password is not correct."))
    password_validate(new_password, user=user)
    user.set_password(new_password)
    user.password_changed_at = now_utc()
    user.save()
    # Every other web session and app token is signed out; the one making the change stays
    # signed in (a web session with the new password's hash under a new key, see
    # session_keep_after_password_change; an app token as it is).
    token = getattr(request, "api_token", None)
    keep = None
    if token is None and request is not None and hasattr(request, "session"):
        keep = request.session.session_key
    sessions_revoke_all(user=user, except_session_key=keep, except_token_id=getattr(token, "pk", None))
    session_keep_after_password_change(request=request, user=user)
    security_event_record(user=user, kind="password_changed", request=request)
    notification_send(
        channel="sms",
        kind="password_changed",
        user=user,
        body=_("[OK Wallet] Your password was changed. If this wasn't you, freeze your account and call us."),
    )
    return user


def reset_start(*, phone: str, request=None) -> None:
    """Send a reset code to the registered phone. Same answer whether or not the number has an account."""
    e164 = normalise_phone(phone)
    if request is not None:
        ratelimit.enforce(conf.rl(f"reset:ip:{client_ip(request)}"), limit=20, window_seconds=3600)
    user = User.objects.filter(phone=e164, is_staff=False).exclude(status=User.Status.CLOSED).first()
    if user is None:
        # Count the send anyway so the limits behave the same for unknown numbers.
        send_limits_enforce(e164)
        return
    code_send(purpose="reset", target=e164, user=user)


def reset_requirements(user) -> list[str]:
    """What the reset needs beyond the SMS code: the second factor, or the ID number's last 6."""
    methods = [m for m in second_factor_methods(user) if m in ("totp", "recovery_code")]
    if methods:
        return ["second_factor"]
    if RealName.objects.filter(user=user).exists():
        return ["id_last6"]
    return []


def _grant_hash(token: str) -> str:
    return hashlib.sha256(f"reset:{token}".encode()).hexdigest()


RESET_CHALLENGE_SALT = "okwallet.accounts.reset-challenge"


def _reset_token_for(user, request) -> str:
    token = secrets.token_urlsafe(32)
    ResetGrant.objects.create(
        user=user,
        token_hash=_grant_hash(token),
        expires_at=now_utc() + timedelta(minutes=RESET_GRANT_MINUTES),
    )
    security_event_record(user=user, kind="reset_verified", request=request)
    return token


def reset_verify_code(*, phone: str, code: str, request=None) -> dict:
    """Step 1: the SMS code. Returns ``{"reset_token"}`` when nothing more is needed, otherwise
    ``{"challenge", "needs"}`` for step 2 (``second_factor`` or ``id_last6``)."""
    from django.core import signing

    e164 = normalise_phone(phone)
    ratelimit.enforce(conf.rl(f"reset:verify:{e164}"), limit=10, window_seconds=3600)
    code_row = code_check(purpose="reset", target=e164, code=code)
    user = code_row.user
    if user is None:
        raise InvalidInput("code_invalid", gettext_lazy("The code is not correct."))
    needs = reset_requirements(user)
    if not needs:
        return {"reset_token": _reset_token_for(user, request), "needs": []}
    challenge = signing.dumps({"u": user.pk, "c": code_row.pk}, salt=RESET_CHALLENGE_SALT)
    return {"challenge": challenge, "needs": needs}


def reset_verify_identity(
    *, challenge: str, second_factor: str = "", method: str = "totp", id_last6: str = "", request=None
) -> str:
    """Step 2: the second factor if enabled, otherwise the last 6 characters of the ID number."""
    from django.core import signing

    try:
        data = signing.loads(challenge or "", salt=RESET_CHALLENGE_SALT, max_age=600)
    except signing.BadSignature:
        raise OkError(
            "reset_challenge_invalid",
            gettext_lazy("This step has expired. Ask for a new code and start again."),
            http_status=400,
        ) from None
    user = User.objects.filter(pk=data["u"]).first()
    if user is None:
        raise OkError(
            "reset_challenge_invalid", gettext_lazy("Ask for a new code and start again."), http_status=400
        )
    ratelimit.enforce(conf.rl(f"reset:identity:{data['c']}"), limit=5, window_seconds=600)
    needs = reset_requirements(user)
    if "second_factor" in needs:
        second_factor_check(
            user=user, method=method if method in ("totp", "recovery_code") else "totp", code=second_factor
        )
    if "id_last6" in needs:
        realname = RealName.objects.get(user=user)
        if (id_last6 or "").strip().upper() != realname.id_last6:
            security_event_record(user=user, kind="reset_id_mismatch", request=request)
            raise InvalidInput(
                "id_last6_mismatch", gettext_lazy("The last 6 characters of your ID number do not match.")
            )
    return _reset_token_for(user, request)


def reset_grant_user(token: str) -> User:
    grant = ResetGrant.objects.select_related("user").filter(token_hash=_grant_hash(token or "")).first()
    if grant is None or grant.expires_at <= now_utc():
        raise OkError(
            "reset_token_invalid",
            gettext_lazy("This reset link is not valid or has expired. Start again."),
            http_status=400,
        )
    if grant.used_at is not None:
        raise OkError(
            "reset_token_used",
            gettext_lazy("This reset link was already used. Start again if you need another reset."),
            http_status=410,
        )
    return grant.user


@transaction.atomic
def reset_complete(*, token: str, new_password: str, request=None) -> User:
    grant = (
        ResetGrant.objects.select_for_update()
        .select_related("user")
        .filter(token_hash=_grant_hash(token or ""))
        .first()
    )
    reset_grant_user(token)  # the precise error for unknown, expired or used
    user = grant.user
    password_validate(new_password, user=user)
    grant.used_at = now_utc()
    grant.save(update_fields=["used_at"])
    user.set_password(new_password)
    user.password_changed_at = now_utc()
    user.save()
    sessions_revoke_all(user=user)
    login_unlock(user=user)
    security_event_record(user=user, kind="password_reset", request=request)
    body = _(
        "[OK Wallet] Your password was reset and every device was logged out. If this wasn't you, call us now."
    )
    notification_send(channel="sms", kind="password_reset", user=user, body=body)
    if user.email:
        notification_send(
            channel="email", kind="password_reset", user=user, body=body, subject=_("Your password was reset")
        )
    return user


# --- unfreeze (full identity verification) --------------------------------------------------------


def unfreeze_requirements(user) -> list[str]:
    needs = ["password", "sms"]
    if "totp" in second_factor_methods(user):
        needs.append("second_factor")
    if RealName.objects.filter(user=user).exists():
        needs.append("id_last6")
    return needs


def unfreeze_send_code(*, user) -> None:
    code_send(purpose="step_up", target=user.phone, user=user)


def unfreeze_verify(
    *,
    user,
    password: str,
    sms_code: str,
    second_factor: str = "",
    method: str = "totp",
    id_last6: str = "",
    request=None,
) -> User:
    """Never on the phone alone: password + SMS code + the second factor + ID digits when available."""
    if user.status != User.Status.FROZEN:
        raise OkError("not_frozen", gettext_lazy("The account is not frozen."), http_status=409)
    ratelimit.enforce(conf.rl(f"unfreeze:{user.pk}"), limit=10, window_seconds=3600)
    if not user.check_password(password):
        security_event_record(user=user, kind="unfreeze_failed", request=request, details={"why": "password"})
        raise InvalidInput("wrong_password", gettext_lazy("Your password is not correct."))
    code_check(purpose="step_up", target=user.phone, code=sms_code)
    needs = unfreeze_requirements(user)
    if "second_factor" in needs:
        second_factor_check(
            user=user, method=method if method in ("totp", "recovery_code") else "totp", code=second_factor
        )
    if "id_last6" in needs:
        if (id_last6 or "").strip().upper() != RealName.objects.get(user=user).id_last6:
            security_event_record(
                user=user, kind="unfreeze_failed", request=request, details={"why": "id_last6"}
            )
            raise InvalidInput(
                "id_last6_mismatch", gettext_lazy("The last 6 characters of your ID number do not match.")
            )
    return account_unfreeze(user=user, request=request)


# --- contact change (verify old and new) -----------------------------------------------------------


def contact_change_start(*, user, kind: str, new_value: str) -> str:
    _assert_not_frozen(user)
    if kind == "phone":
        new = normalise_phone(new_value)
        if new == user.phone:
            raise InvalidInput("same_contact", gettext_lazy("That is already your mobile number."))
        if User.objects.filter(phone=new).exists():
            raise OkError(
                "phone_taken", gettext_lazy("This mobile number is used by another account."), http_status=409
            )
        old_target, old_channel = user.phone, "sms"
    elif kind == "email":
        new = clean_email(new_value)
        if not new:
            raise InvalidInput("invalid_email", gettext_lazy("Enter a valid email address."))
        if User.objects.filter(email__iexact=new).exclude(pk=user.pk).exists():
            raise OkError(
                "email_taken", gettext_lazy("This email address is used by another account."), http_status=409
            )
        # The old email may be gone; the registered phone confirms it's the owner instead.
        old_target, old_channel = (
            (user.email, "email") if user.email and user.email_verified else (user.phone, "sms")
        )
    else:
        raise InvalidInput("invalid_kind", gettext_lazy("Choose phone or email."))
    code_send(purpose="contact_old", target=old_target, user=user, channel=old_channel)
    code_send(purpose="contact_new", target=new, user=user, channel="sms" if kind == "phone" else "email")
    return new


def contact_change_confirm(
    *, user, kind: str, new_value: str, old_code: str, new_code: str, request=None
) -> User:
    _assert_not_frozen(user)
    if kind == "phone":
        new = normalise_phone(new_value)
        old_target = user.phone
    else:
        new = clean_email(new_value)
        old_target = user.email if user.email and user.email_verified else user.phone
    code_check(purpose="contact_old", target=old_target, code=old_code)
    code_check(purpose="contact_new", target=new, code=new_code)
    old_display = user.phone if kind == "phone" else user.email
    if kind == "phone":
        if User.objects.filter(phone=new).exclude(pk=user.pk).exists():
            raise OkError(
                "phone_taken", gettext_lazy("This mobile number is used by another account."), http_status=409
            )
        user.phone, user.phone_verified = new, True
    else:
        user.email, user.email_verified = new, True
    if user.contact_bounced == ("sms" if kind == "phone" else "email"):
        user.contact_bounced = ""
    user.save(update_fields=["phone", "phone_verified", "email", "email_verified", "contact_bounced"])
    security_event_record(user=user, kind=f"{kind}_changed", request=request)
    body = _("[OK Wallet] The %(what)s on your account was changed. If this wasn't you, call us now.") % {
        "what": _("mobile number") if kind == "phone" else _("email address")
    }
    if old_display:
        notification_send(
            channel="sms" if kind == "phone" else "email",
            kind="contact_changed",
            to=old_display,
            body=body,
            subject=_("Your contact details changed"),
        )
    return user


def contact_mark_bounced(*, user, channel: str) -> None:
    """Called when an SMS or email to the customer bounced: a reminder asks them to update it."""
    if channel not in ("sms", "email"):
        raise ValueError(channel)
    User.objects.filter(pk=user.pk).update(contact_bounced=channel)


# --- opt-in password-change reminders (no forced expiry, NIST 800-63B) ----------------------------

REMINDER_CHOICES = (0, 90, 180, 365)


def password_reminder_set(*, user, days: int, request=None) -> None:
    if days not in REMINDER_CHOICES:
        raise InvalidInput("invalid_reminder", gettext_lazy("Choose one of the offered reminder periods."))
    User.objects.filter(pk=user.pk).update(password_reminder_days=days)
    user.password_reminder_days = days
    security_event_record(user=user, kind="password_reminder_set", request=request, details={"days": days})


def password_reminders_due(*, now=None) -> int:
    """Remind customers who asked for it; at most once per period."""
    from okwallet.accounts.models import SecurityEvent

    now = now or now_utc()
    sent = 0
    for user in User.objects.filter(password_reminder_days__gt=0, status=User.Status.ACTIVE, is_staff=False):
        period = timedelta(days=user.password_reminder_days)
        changed = user.password_changed_at or user.date_joined
        if changed > now - period:
            continue
        if SecurityEvent.objects.filter(
            user=user, kind="password_reminder_sent", created_at__gt=now - period
        ).exists():
            continue
        notification_send(
            channel="inapp",
            kind="password_reminder",
            user=user,
            body=_(
                "You asked us to remind you: it's been a while since you changed your OK Wallet password."
            ),
        )
        SecurityEvent.objects.create(user=user, kind="password_reminder_sent")
        sent += 1
    return sent
