"""Accounts API: sign-up, tokens with a second factor, password reset, real-name, security, closure."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import authenticate  # noqa: F401  (kept for callers that patch the module)
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema, Status

from okwallet.accounts import auth as login_flow
from okwallet.accounts import closure, conf, flows, selectors, services, sessions, stepup, twofactor
from okwallet.accounts.masking import mask_email
from okwallet.accounts.models import ApiToken, User
from okwallet.accounts.phone import mask_phone
from okwallet.core import ratelimit
from okwallet.core.audit import audit_log_write, client_ip
from okwallet.core.errors import NotAuthenticated, OkError, PermissionDenied

router = Router(tags=["accounts"])


def _customer(request) -> User:
    user = request.auth
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    if user.is_staff:
        raise PermissionDenied("customers_only", _("This is for customer accounts."))
    return user


class Accepted(Schema):
    status: str = "sent"
    message: str = ""


# --- sign-up ---------------------------------------------------------------------------------


class PhoneIn(Schema):
    phone: str = Field(..., max_length=40, description="Mainland mobile number, e.g. 13812345678")


class SignupIn(Schema):
    phone: str = Field(..., max_length=40)
    code: str = Field(..., max_length=12)
    password: str = Field(..., max_length=256)
    email: str = Field("", max_length=200)
    display_name: str = Field("", max_length=60)
    device_id: str = Field("", max_length=100)


class TokenOut(Schema):
    token: str
    user_id: str | None


@router.post("/auth/signup/code", response={202: Accepted}, auth=None, summary="Send a sign-up code by SMS")
def signup_code(request, payload: PhoneIn):
    flows.signup_start(phone=payload.phone, request=request)
    return Status(
        202, {"status": "sent", "message": str(_("If the number can be used, a code is on its way."))}
    )


@router.post(
    "/auth/signup", response={201: TokenOut}, auth=None, summary="Create an account with the SMS code"
)
def signup(request, payload: SignupIn):
    user = flows.signup_complete(
        phone=payload.phone,
        code=payload.code,
        password=payload.password,
        email=payload.email,
        display_name=payload.display_name,
        request=request,
    )
    token, key = ApiToken.issue(user, "app")
    login_flow.login_completed(request=request, user=user, device_id=payload.device_id, channel="app")
    return Status(201, {"token": key, "user_id": user.public_id})


# --- tokens (log in from the app) --------------------------------------------------------------


class TokenIn(Schema):
    identifier: str = Field(..., min_length=1, max_length=120, description="Mobile number, email or user ID")
    password: str = Field(..., min_length=1, max_length=256)
    device_name: str = Field("app", max_length=80)
    device_id: str = Field("", max_length=100, description="The app's install ID (new-device alerts)")


class ChallengeOut(Schema):
    second_factor_required: bool = True
    challenge: str
    methods: list[str]


class SecondFactorIn(Schema):
    challenge: str = Field(..., max_length=400)
    method: str = Field("totp", pattern="^(totp|recovery_code|sms)$")
    code: str = Field(..., max_length=20)
    device_name: str = Field("app", max_length=80)
    device_id: str = Field("", max_length=100)


class ChallengeIn(Schema):
    challenge: str = Field(..., max_length=400)


def _issue(request, user, *, device_name: str, device_id: str, method: str):
    token, key = ApiToken.issue(user, device_name)
    audit_log_write(actor=user, action="auth.token_issued", obj=token, request=request)
    login_flow.login_completed(request=request, user=user, device_id=device_id, method=method, channel="app")
    return Status(201, {"token": key, "user_id": user.public_id})


@router.post(
    "/auth/token",
    response={201: TokenOut, 202: ChallengeOut},
    auth=None,
    summary="Sign in from the app: a token, or a second-factor challenge",
)
def token_create(request, payload: TokenIn):
    ratelimit.enforce(conf.rl(f"token:ip:{client_ip(request)}"), limit=20, window_seconds=60)
    result = login_flow.password_check(
        request=request, identifier=payload.identifier, password=payload.password
    )
    if result.methods:
        return Status(
            202,
            {
                "second_factor_required": True,
                "challenge": login_flow.challenge_issue(result.user),
                "methods": result.methods,
            },
        )
    return _issue(
        request, result.user, device_name=payload.device_name, device_id=payload.device_id, method="password"
    )


def _challenge(token: str) -> User:
    user = login_flow.challenge_user(token)
    if user is None:
        raise OkError("challenge_invalid", _("The sign-in step expired. Log in again."), http_status=401)
    return user


@router.post("/auth/token/sms-code", response={202: Accepted}, auth=None, summary="Send the login SMS code")
def token_sms_code(request, payload: ChallengeIn):
    user = _challenge(payload.challenge)
    if "sms" not in twofactor.second_factor_methods(user):
        raise OkError(
            "second_factor_method", _("SMS codes are not set up for this account."), http_status=422
        )
    from okwallet.accounts.codes import code_send

    code_send(purpose="login", target=user.phone, user=user)
    return Status(202, {"status": "sent", "message": str(_("A code was sent to your mobile number."))})


@router.post("/auth/token/second-factor", response={201: TokenOut}, auth=None, summary="Finish signing in")
def token_second_factor(request, payload: SecondFactorIn):
    user = _challenge(payload.challenge)
    login_flow.second_factor_guard(user=user)
    twofactor.second_factor_check(user=user, method=payload.method, code=payload.code, purpose="login")
    return _issue(
        request, user, device_name=payload.device_name, device_id=payload.device_id, method=payload.method
    )


@router.delete("/auth/token", response={204: None}, summary="Sign out this app token")
def token_revoke(request):
    token = getattr(request, "api_token", None)
    if token is not None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    return Status(204, None)


# --- forgotten password ---------------------------------------------------------------------


class ResetCodeIn(Schema):
    phone: str = Field(..., max_length=40)
    code: str = Field(..., max_length=12)


class ResetStepOut(Schema):
    reset_token: str | None = None
    challenge: str | None = None
    needs: list[str] = []


class ResetIdentityIn(Schema):
    challenge: str = Field(..., max_length=400)
    method: str = Field("totp", pattern="^(totp|recovery_code)$")
    second_factor: str = Field("", max_length=20)
    id_last6: str = Field("", max_length=6)


class ResetTokenOut(Schema):
    reset_token: str


class ResetIn(Schema):
    reset_token: str = Field(..., max_length=100)
    new_password: str = Field(..., max_length=256)


@router.post("/auth/password-reset/code", response={202: Accepted}, auth=None, summary="Send a reset code")
def reset_code(request, payload: PhoneIn):
    flows.reset_start(phone=payload.phone, request=request)
    return Status(
        202, {"status": "sent", "message": str(_("If this number has an account, a code is on its way."))}
    )


@router.post("/auth/password-reset/verify", response=ResetStepOut, auth=None, summary="Check the reset code")
def reset_verify(request, payload: ResetCodeIn):
    return flows.reset_verify_code(phone=payload.phone, code=payload.code, request=request)


@router.post(
    "/auth/password-reset/identity", response=ResetTokenOut, auth=None, summary="Second factor or ID digits"
)
def reset_identity(request, payload: ResetIdentityIn):
    token = flows.reset_verify_identity(
        challenge=payload.challenge,
        second_factor=payload.second_factor,
        method=payload.method,
        id_last6=payload.id_last6,
        request=request,
    )
    return {"reset_token": token}


@router.post("/auth/password-reset", response={204: None}, auth=None, summary="Set the new password")
def reset_complete(request, payload: ResetIn):
    flows.reset_complete(token=payload.reset_token, new_password=payload.new_password, request=request)
    return Status(204, None)


# --- me -----------------------------------------------------------------------------------------


class MeOut(Schema):
    user_id: str | None
    display_name: str
    status: str
    is_staff: bool
    language: str
    phone_masked: str = ""
    email_masked: str = ""
    phone_verified: bool = False
    email_verified: bool = False
    realname_verified: bool = False
    contact_bounced: str = ""


@router.get("/me", response=MeOut, summary="Who am I")
def me(request):
    user = request.auth
    return {
        "user_id": user.public_id,
        "display_name": user.display_name or user.username,
        "status": user.status,
        "is_staff": user.is_staff,
        "language": user.preferred_language,
        "phone_masked": mask_phone(user.phone),
        "email_masked": mask_email(user.email),
        "phone_verified": user.phone_verified,
        "email_verified": user.email_verified,
        "realname_verified": selectors.realname_for(user) is not None,
        "contact_bounced": user.contact_bounced,
    }


class RealNameIn(Schema):
    name: str = Field(..., max_length=60)
    id_number: str = Field(..., max_length=30)


class RealNameOut(Schema):
    verified: bool
    masked_name: str = ""
    id_last4: str = ""
    verified_at: datetime | None = None
    sources: list[str] = []


def _realname_out(user):
    rn = selectors.realname_for(user)
    if rn is None:
        return {"verified": False}
    return {
        "verified": True,
        "masked_name": rn.masked_name,
        "id_last4": rn.id_last4,
        "verified_at": rn.verified_at,
        "sources": rn.sources,
    }


@router.get("/me/realname", response=RealNameOut, summary="My real-name verification")
def realname_get(request):
    return _realname_out(_customer(request))


@router.post("/me/realname", response={201: RealNameOut}, summary="Verify my real name and ID number")
def realname_post(request, payload: RealNameIn):
    user = _customer(request)
    # At most 5 tries an hour: counted in the service, so the page is limited too.
    services.realname_verify(user=user, name=payload.name, id_number=payload.id_number, request=request)
    return Status(201, _realname_out(user))


class PaymentClassOut(Schema):
    code: str | None
    limit_fen: int
    period: str
    used_fen: int | None
    remaining_fen: int | None
    sources: list[str]
    upgrade: list[dict]


@router.get("/me/payment-class", response=PaymentClassOut, summary="My payment-account class and usage")
def payment_class(request):
    from okwallet.accounts.paymentclass import payment_class_overview

    return payment_class_overview(_customer(request))


class RealNameSourceOut(Schema):
    source: str = Field(..., description="identity | bank_card | carrier | social_security | face")
    label: str
    verified: bool
    how: str = Field(..., description="realname | check (POST it here) | link (another app) | unavailable")
    needs: list[str] = Field(..., description="Inputs the check needs, e.g. id_number, face_token")
    url: str = Field("", description="Page where it is added (for how=link)")
    api: str = Field("", description="API operation that adds it")


class RealNameSourcesOut(Schema):
    code: str | None = Field(..., description="Payment-account class now (None: not verified)")
    limit_fen: int
    period: str
    sources_verified: int
    sources: list[RealNameSourceOut]


def _sources_out(user):
    from okwallet.accounts import upgrade

    pc = selectors.payment_class_for(user)
    rows = upgrade.sources_overview(user)
    return {
        "code": pc.code,
        "limit_fen": pc.limit_fen,
        "period": pc.period,
        "sources_verified": sum(1 for r in rows if r["verified"]),
        "sources": rows,
    }


@router.get(
    "/me/realname/sources", response=RealNameSourcesOut, summary="My verification sources and how to add more"
)
def realname_sources(request):
    return _sources_out(_customer(request))


class RealNameSourceIn(Schema):
    id_number: str = Field(..., max_length=30, description="The ID number you verified your real name with")
    face_token: str = Field("", max_length=200, description="face only: the face SDK's result token")


class RealNameSourceAddedOut(RealNameSourcesOut):
    source: str
    added: bool = Field(..., description="False when the source was already verified (nothing changed)")


@router.post(
    "/me/realname/sources/{source}",
    response={200: RealNameSourceAddedOut, 201: RealNameSourceAddedOut},
    summary="Add a verification source (step-up) to raise my payment-account class",
)
def realname_source_add(request, source: str, payload: RealNameSourceIn):
    """Errors: ``unknown_source`` 404; ``source_needs_card`` 409 (bind a card: POST /wallet/cards);
    ``realname_required`` 403; ``account_frozen`` 403; ``step_up_required`` 403 (purpose
    ``realname_upgrade``; one pass covers several sources for 5 minutes); ``realname_id_mismatch``,
    ``id_number_*``, ``carrier_mismatch``, ``carrier_not_supported``, ``social_security_not_found``,
    ``face_mismatch``, ``face_token_invalid``, ``face_token_required`` 422;
    ``source_checks_too_many`` 429; ``verification_provider_unavailable`` 503."""
    from okwallet.accounts import upgrade

    user = _customer(request)
    upgrade.source_assert_addable(user=user, source=source)
    stepup.step_up_require(request, "realname_upgrade", consume=False)
    _rn, added = upgrade.realname_source_verify(
        user=user, source=source, id_number=payload.id_number, face_token=payload.face_token, request=request
    )
    return Status(201 if added else 200, {**_sources_out(user), "source": source, "added": added})


# --- security overview, history, sessions ----------------------------------------------------------


class SecurityOut(Schema):
    status: str
    second_factors: list[str]
    totp_enabled: bool
    sms_second_factor: bool
    recovery_codes_left: int
    sessions: int
    app_tokens: int
    password_changed_at: datetime | None
    closure_pending_until: datetime | None


@router.get("/me/security", response=SecurityOut, summary="Security overview")
def security_overview(request):
    user = _customer(request)
    pending = closure.pending_closure(user)
    return {
        "status": user.status,
        "second_factors": twofactor.second_factor_methods(user),
        "totp_enabled": twofactor.totp_device(user) is not None,
        "sms_second_factor": user.sms_second_factor,
        "recovery_codes_left": twofactor.recovery_codes_left(user),
        "sessions": len(sessions.active_sessions(user)),
        "app_tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True).count(),
        "password_changed_at": user.password_changed_at,
        "closure_pending_until": pending.effective_at if pending else None,
    }


class SecurityEventOut(Schema):
    kind: str
    created_at: datetime
    ip: str | None
    details: dict


@router.get(
    "/me/security/events", response=list[SecurityEventOut], summary="My security history (newest first)"
)
def security_events(request, limit: int = 50, offset: int = 0):
    user = _customer(request)
    limit = max(1, min(limit, 200))
    return selectors.security_events_for(user, limit=limit, offset=max(0, offset))


class SessionOut(Schema):
    id: int
    kind: str
    name: str
    ip: str | None = Field(None, description="Where it signed in")
    last_ip: str | None = Field(None, description="Where it was last active (web sessions)")
    created_at: datetime
    last_seen: datetime | None = Field(None, description="Last activity (updated at most every 5 minutes)")
    current: bool


@router.get("/me/sessions", response=list[SessionOut], summary="Signed-in web sessions and app tokens")
def sessions_list(request):
    user = _customer(request)
    token = getattr(request, "api_token", None)
    return [
        {**row, "name": (row["name"] or "")[:80]}
        for row in sessions.signed_in_list(
            user,
            current_key=request.session.session_key if hasattr(request, "session") else None,
            current_token_id=getattr(token, "pk", None),
        )
    ]


@router.delete("/me/sessions/{kind}/{session_id}", response={204: None}, summary="Sign out one session")
def session_revoke(request, kind: str, session_id: int):
    user = _customer(request)
    if kind == "web":
        done = sessions.session_revoke(user=user, session_id=session_id)
    elif kind == "app":
        done = bool(
            ApiToken.objects.filter(user=user, pk=session_id, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
        )
    else:
        done = False
    if not done:
        raise OkError("not_found", _("The requested item was not found."), http_status=404)
    services.security_event_record(user=user, kind="session_revoked", request=request, details={"kind": kind})
    return Status(204, None)


@router.post("/me/sessions/logout-all", response={200: dict}, summary="Log out everywhere else")
def sessions_logout_all(request):
    user = _customer(request)
    count = sessions.sessions_revoke_all(
        user=user,
        except_session_key=request.session.session_key
        if getattr(request, "api_token", None) is None
        else None,
        except_token_id=getattr(getattr(request, "api_token", None), "pk", None),
    )
    services.security_event_record(
        user=user, kind="logout_everywhere", request=request, details={"count": count}
    )
    return {"revoked": count}


# --- step-up ---------------------------------------------------------------------------------------


class StepUpSmsIn(Schema):
    purpose: str = Field(..., max_length=40)


class StepUpIn(Schema):
    purpose: str = Field(..., max_length=40)
    method: str = Field("sms", pattern="^(totp|recovery_code|sms)$")
    code: str = Field(..., max_length=20)


class StepUpOut(Schema):
    purpose: str
    valid_until: datetime


@router.post("/security/step-up/sms", response={202: Accepted}, summary="Send a security-check SMS code")
def step_up_sms(request, payload: StepUpSmsIn):
    _customer(request)
    stepup.step_up_send_sms(request, payload.purpose)
    return Status(202, {"status": "sent", "message": str(_("A code was sent to your mobile number."))})


@router.post("/security/step-up", response={201: StepUpOut}, summary="Pass a security check for one action")
def step_up(request, payload: StepUpIn):
    _customer(request)
    grant = stepup.step_up_verify(request, purpose=payload.purpose, method=payload.method, code=payload.code)
    return Status(201, {"purpose": grant.purpose, "valid_until": grant.expires_at})


# --- password, 2FA ---------------------------------------------------------------------------------


class PasswordChangeIn(Schema):
    old_password: str = Field(..., max_length=256)
    new_password: str = Field(..., max_length=256)


@router.post("/me/password", response={204: None}, summary="Change my password")
def password_change(request, payload: PasswordChangeIn):
    user = _customer(request)
    ratelimit.enforce(conf.rl(f"pwchange:{user.pk}"), limit=10, window_seconds=3600)
    flows.password_change(
        user=user, old_password=payload.old_password, new_password=payload.new_password, request=request
    )
    return Status(204, None)


class PasswordCheckIn(Schema):
    password: str = Field(..., max_length=256)


class PasswordCheckOut(Schema):
    ok: bool
    score: int
    problems: list[dict]


@router.post("/auth/password-check", response=PasswordCheckOut, auth=None, summary="Check a password's rules")
def password_check(request, payload: PasswordCheckIn):
    from okwallet.accounts.validators import password_strength

    ratelimit.enforce(conf.rl(f"pwcheck:ip:{client_ip(request)}"), limit=60, window_seconds=60)
    user = request.user if request.user.is_authenticated else None
    try:
        flows.password_validate(payload.password, user=user)
        problems = []
    except OkError as exc:
        problems = exc.details.get("problems", [])
    return {"ok": not problems, "score": password_strength(payload.password)["score"], "problems": problems}


class TotpStartOut(Schema):
    secret: str
    otpauth_uri: str


class CodeIn(Schema):
    code: str = Field(..., max_length=20)


class RecoveryCodesOut(Schema):
    recovery_codes: list[str]


def _assert_can_change_security(user):
    if user.status == User.Status.FROZEN:
        raise OkError(
            "account_frozen",
            _("Your account is frozen: unfreeze it before changing security settings."),
            http_status=403,
        )


@router.post("/me/2fa/totp", response={201: TotpStartOut}, summary="Start setting up an authenticator app")
def totp_start(request):
    user = _customer(request)
    _assert_can_change_security(user)
    device = twofactor.totp_setup_start(user=user)
    return Status(
        201,
        {
            "secret": twofactor.totp_secret_b32(device),
            "otpauth_uri": twofactor.totp_uri(device, account_label=user.public_id or user.username),
        },
    )


@router.post(
    "/me/2fa/totp/confirm", response={201: RecoveryCodesOut}, summary="Confirm the authenticator app"
)
def totp_confirm(request, payload: CodeIn):
    user = _customer(request)
    _assert_can_change_security(user)
    ratelimit.enforce(conf.rl(f"totpconfirm:{user.pk}"), limit=10, window_seconds=900)
    codes = twofactor.totp_setup_confirm(user=user, token=payload.code)
    services.security_event_record(user=user, kind="totp_enabled", request=request)
    return Status(201, {"recovery_codes": codes})


@router.delete("/me/2fa/totp", response={204: None}, summary="Turn off the authenticator app (step-up)")
def totp_delete(request):
    user = _customer(request)
    _assert_can_change_security(user)
    stepup.step_up_require(request, "disable_2fa")
    twofactor.totp_disable(user=user)
    services.security_event_record(user=user, kind="totp_disabled", request=request)
    return Status(204, None)


@router.post(
    "/me/2fa/recovery-codes", response={201: RecoveryCodesOut}, summary="New recovery codes (step-up)"
)
def recovery_codes_new(request):
    user = _customer(request)
    _assert_can_change_security(user)
    if twofactor.totp_device(user) is None:
        raise OkError("totp_not_enabled", _("Set up an authenticator app first."), http_status=409)
    stepup.step_up_require(request, "security_settings")
    codes = twofactor.recovery_codes_regenerate(user=user)
    services.security_event_record(user=user, kind="recovery_codes_regenerated", request=request)
    return Status(201, {"recovery_codes": codes})


class SmsFactorIn(Schema):
    enabled: bool


@router.put("/me/2fa/sms", response={204: None}, summary="Ask for an SMS code after the password")
def sms_factor(request, payload: SmsFactorIn):
    user = _customer(request)
    _assert_can_change_security(user)
    if not payload.enabled:
        stepup.step_up_require(request, "disable_2fa")
    User.objects.filter(pk=user.pk).update(sms_second_factor=payload.enabled)
    services.security_event_record(
        user=user, kind="sms_2fa_enabled" if payload.enabled else "sms_2fa_disabled", request=request
    )
    return Status(204, None)


# --- freeze / unfreeze --------------------------------------------------------------------------------


class FreezeIn(Schema):
    reason: str = Field("", max_length=300)


class StatusOut(Schema):
    status: str


@router.post("/me/freeze", response=StatusOut, summary="Freeze my account now")
def freeze(request, payload: FreezeIn):
    user = _customer(request)
    channel = "app" if getattr(request, "api_token", None) is not None else "web"
    services.account_freeze(
        user=user, reason=payload.reason or "self-service", channel=channel, request=request
    )
    return {"status": User.Status.FROZEN}


@router.post("/me/unfreeze/code", response={202: Accepted}, summary="Send the unfreeze SMS code")
def unfreeze_code(request):
    user = _customer(request)
    flows.unfreeze_send_code(user=user)
    return Status(202, {"status": "sent", "message": str(_("A code was sent to your mobile number."))})


class UnfreezeIn(Schema):
    password: str = Field(..., max_length=256)
    sms_code: str = Field(..., max_length=12)
    method: str = Field("totp", pattern="^(totp|recovery_code)$")
    second_factor: str = Field("", max_length=20)
    id_last6: str = Field("", max_length=6)


class NeedsOut(Schema):
    needs: list[str]


@router.get("/me/unfreeze", response=NeedsOut, summary="What unfreezing needs")
def unfreeze_needs(request):
    return {"needs": flows.unfreeze_requirements(_customer(request))}


@router.post("/me/unfreeze", response=StatusOut, summary="Unfreeze with full identity verification")
def unfreeze(request, payload: UnfreezeIn):
    user = _customer(request)
    flows.unfreeze_verify(
        user=user,
        password=payload.password,
        sms_code=payload.sms_code,
        second_factor=payload.second_factor,
        method=payload.method,
        id_last6=payload.id_last6,
        request=request,
    )
    return {"status": User.Status.ACTIVE}


# --- contact details ---------------------------------------------------------------------------------


class ContactStartIn(Schema):
    new_value: str = Field(..., max_length=200)


class ContactConfirmIn(Schema):
    new_value: str = Field(..., max_length=200)
    old_code: str = Field(..., max_length=12)
    new_code: str = Field(..., max_length=12)


def _contact_kind(kind: str) -> str:
    if kind not in ("phone", "email"):
        raise OkError("not_found", _("The requested item was not found."), http_status=404)
    return kind


@router.post(
    "/me/contact/{kind}/start", response={202: Accepted}, summary="Change phone or email: send codes"
)
def contact_start(request, kind: str, payload: ContactStartIn):
    user = _customer(request)
    flows.contact_change_start(user=user, kind=_contact_kind(kind), new_value=payload.new_value)
    return Status(
        202, {"status": "sent", "message": str(_("Codes were sent to your current and new contact."))}
    )


@router.post(
    "/me/contact/{kind}/confirm", response=MeOut, summary="Change phone or email: confirm both codes"
)
def contact_confirm(request, kind: str, payload: ContactConfirmIn):
    user = _customer(request)
    ratelimit.enforce(conf.rl(f"contact:{user.pk}"), limit=10, window_seconds=3600)
    flows.contact_change_confirm(
        user=user,
        kind=_contact_kind(kind),
        new_value=payload.new_value,
        old_code=payload.old_code,
        new_code=payload.new_code,
        request=request,
    )
    return me(request)


class EmailIn(Schema):
    email: str = Field(..., max_length=200)


class EmailVerifyIn(Schema):
    email: str = Field(..., max_length=200)
    code: str = Field(..., max_length=12)


@router.post("/me/email/code", response={202: Accepted}, summary="Send an email verification code")
def email_code(request, payload: EmailIn):
    user = _customer(request)
    if user.email and payload.email.strip().lower() != user.email.lower():
        raise OkError(
            "use_contact_change", _("To change your email, use the contact-change steps."), http_status=409
        )
    flows.email_verify_send(user=user, email=payload.email)
    return Status(202, {"status": "sent", "message": str(_("A code was sent to your email."))})


@router.post("/me/email/verify", response=MeOut, summary="Verify my email with the code")
def email_verify(request, payload: EmailVerifyIn):
    user = _customer(request)
    if user.email and payload.email.strip().lower() != user.email.lower():
        raise OkError(
            "use_contact_change", _("To change your email, use the contact-change steps."), http_status=409
        )
    flows.email_verify_confirm(user=user, email=payload.email, code=payload.code, request=request)
    return me(request)


# --- closure ---------------------------------------------------------------------------------------


class AccountClosureOut(Schema):
    status: str
    blockers: list[dict]
    cooling_off_days: int
    pending_until: datetime | None


def _closure_out(user):

    pending = closure.pending_closure(user)
    return {
        "status": user.status,
        "blockers": [] if pending else closure.closure_blockers(user),
        "cooling_off_days": conf.get("OKWALLET_CLOSURE_COOLING_OFF_DAYS"),
        "pending_until": pending.effective_at if pending else None,
    }


@router.get("/me/closure", response=AccountClosureOut, summary="Can I close my account?")
def closure_get(request):
    return _closure_out(_customer(request))


class ClosureIn(Schema):
    reason: str = Field("", max_length=300)


@router.post(
    "/me/closure", response={201: AccountClosureOut}, summary="Request closure (step-up; cooling-off)"
)
def closure_post(request, payload: ClosureIn):
    user = _customer(request)
    closure.closure_assert_possible(user)  # blockers are explained before asking for the security check
    stepup.step_up_require(request, "closure")
    closure.closure_request(user=user, reason=payload.reason, request=request)
    return Status(201, _closure_out(user))


@router.delete("/me/closure", response=AccountClosureOut, summary="Cancel my closure request")
def closure_delete(request):
    user = _customer(request)
    closure.closure_cancel(user=user, request=request)
    return _closure_out(user)


# --- staff ---------------------------------------------------------------------------------------------


class StaffFreezeIn(Schema):
    reason: str = Field(..., min_length=3, max_length=300)


@router.post("/staff/customers/{public_id}/freeze", response=StatusOut, summary="Agent: freeze a customer")
def staff_freeze(request, public_id: str, payload: StaffFreezeIn):
    from okwallet.accounts.roles import is_staff_member

    if not is_staff_member(request.auth):
        raise PermissionDenied()
    customer = selectors.customer_by_public_id(public_id)
    if customer is None:
        raise OkError("not_found", _("The requested item was not found."), http_status=404)
    services.account_freeze(
        user=customer, actor=request.auth, reason=payload.reason, channel="agent", request=request
    )
    return {"status": User.Status.FROZEN}
