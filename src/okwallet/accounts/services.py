"""Account writes: creation, real-name verification, the money gate, freezing, security events."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from okwallet.accounts import conf, roles
from okwallet.accounts.idcard import parse_id_number
from okwallet.accounts.identity import IdentityProviderUnavailable, get_provider
from okwallet.accounts.models import RealName, SecurityEvent, User
from okwallet.accounts.phone import normalise_phone
from okwallet.core import ratelimit
from okwallet.core.audit import audit_log_write, client_ip
from okwallet.core.errors import InvalidInput, OkError
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc


def new_public_id() -> str:
    """A 9-digit user ID that has never been used (closed accounts keep theirs, so it is never reused)."""
    while True:
        candidate = str(secrets.randbelow(900_000_000) + 100_000_000)
        if not User.objects.filter(public_id=candidate).exists():
            return candidate


@transaction.atomic
def customer_create(
    *, phone: str, password: str | None, email: str = "", display_name: str = "", phone_verified: bool = False
) -> User:
    phone = normalise_phone(phone)
    for _attempt in range(5):
        public_id = new_public_id()
        try:
            with transaction.atomic():
                user = User(
                    username=f"u{public_id}",
                    public_id=public_id,
                    phone=phone,
                    email=email or "",
                    display_name=display_name,
                    phone_verified=phone_verified,
                )
                if password is None:
                    user.set_unusable_password()
                else:
                    user.set_password(password)
                user.save()
            break
        except IntegrityError:
            if User.objects.filter(phone=phone).exists():
                raise
    else:  # pragma: no cover - 5 collisions in a row on a 9-digit space
        raise RuntimeError("could not allocate a user ID")
    user.groups.add(Group.objects.get(name=roles.CUSTOMER))
    return user


@transaction.atomic
def staff_create(*, username: str, password: str, role: str, display_name: str = "", email: str = "") -> User:
    if role not in roles.STAFF_ROLES:
        raise ValueError(f"unknown staff role {role!r}")
    user = User.objects.create_user(
        username=username,
        password=password,
        email=email,
        is_staff=True,
        display_name=display_name,
        is_superuser=(role == roles.ADMIN),
    )
    user.groups.add(Group.objects.get(name=role))
    return user


# --- security events -------------------------------------------------------------------


def security_event_record(*, user, kind: str, request=None, actor=None, details: dict | None = None):
    """One line in the customer's security history and in the audit log."""
    ua = request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""
    event = SecurityEvent.objects.create(
        user=user, kind=kind, ip=client_ip(request), user_agent=ua, details=details or {}
    )
    audit_log_write(
        actor=actor if actor is not None else user,
        action=f"security.{kind}",
        obj=user,
        request=request,
        details=details or {},
    )
    return event


# --- real-name verification --------------------------------------------------------------


def id_number_hash(number: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"idnum:{number}".encode(), hashlib.sha256).hexdigest()


def realname_id_number_check(*, user, id_number: str) -> str:
    """The full ID number, re-typed by the customer, if it is the one their real name was verified
    with (only its keyed hash is stored, so this is also a knowledge check). Returns it normalised
    for a provider or bank that needs the number itself (verification sources, the bank card's
    four-element check).

    Raises ``realname_required`` (403), ``id_number_format`` / ``_region`` / ``_birth_date`` /
    ``_checksum`` (422) or ``realname_id_mismatch`` (422)."""
    realname = RealName.objects.filter(user_id=user.pk).only("id_hash").first()
    if realname is None:
        raise OkError(
            "realname_required", gettext_lazy("Complete real-name verification first."), http_status=403
        )
    parsed = parse_id_number(id_number)
    if not hmac.compare_digest(id_number_hash(parsed.number), realname.id_hash):
        raise InvalidInput(
            "realname_id_mismatch",
            gettext_lazy(
                "This is not the ID number you verified your real name with. Check it and try again."
            ),
        )
    return parsed.number


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not 2 <= len(name) <= 30:
        raise InvalidInput("realname_name", gettext_lazy("Enter your name exactly as on your ID card."))
    return name


def _realname_exists() -> OkError:
    return OkError(
        "realname_exists", gettext_lazy("Your real-name verification is already complete."), http_status=409
    )


def _realname_in_use() -> OkError:
    return OkError(
        "realname_in_use",
        gettext_lazy("This ID number is already verified on another account. Contact us if that is wrong."),
        http_status=409,
    )


def realname_verify(*, user, name: str, id_number: str, request=None) -> RealName:
    """Check name + ID number with the identity provider and record the verification.

    The provider is asked outside any transaction (no lock held over a network call); a refusal
    is written to the security history and kept although the call raises (call it outside a
    transaction). The unique user and ID-hash constraints settle two verifications at once."""
    if RealName.objects.filter(user=user).exists():
        raise _realname_exists()
    # Pages and the API alike: the provider must not become an oracle for other people's IDs.
    ratelimit.enforce(conf.rl(f"realname:{user.pk}"), limit=5, window_seconds=3600)
    name = _clean_name(name)
    parsed = parse_id_number(id_number)
    digest = id_number_hash(parsed.number)
    if RealName.objects.filter(id_hash=digest).exists():
        raise _realname_in_use()
    provider = get_provider()
    try:
        result = provider.verify(name=name, id_number=parsed.number)
    except IdentityProviderUnavailable:
        raise OkError(
            "identity_provider_unavailable",
            gettext_lazy(
                "Identity verification is unavailable right now. Please try again in a few minutes."
            ),
            http_status=503,
        ) from None
    if not result.ok:
        with transaction.atomic():
            security_event_record(
                user=user, kind="realname_failed", request=request, details={"code": result.code}
            )
        raise InvalidInput(
            "realname_mismatch",
            gettext_lazy("The name and ID number do not match. Check both and try again."),
        )
    try:
        with transaction.atomic():
            realname = RealName.objects.create(
                user=user,
                name=name,
                id_hash=digest,
                id_last6=parsed.last6,
                birth_date=parsed.birth_date,
                gender=parsed.gender,
                provider=getattr(provider, "name", type(provider).__name__),
                provider_reference=result.reference,
                sources=["identity"],
                verified_at=now_utc(),
            )
            security_event_record(
                user=user, kind="realname_verified", request=request, details={"provider": realname.provider}
            )
    except IntegrityError:
        raise (
            _realname_exists() if RealName.objects.filter(user=user).exists() else _realname_in_use()
        ) from None
    return realname


@transaction.atomic
def realname_add_source(*, user, source: str, request=None, details: dict | None = None) -> RealName:
    """Record one more verification source (bank card, carrier, face…); it may raise the payment class.

    Idempotent: a source already recorded changes nothing and writes no event. Locks the RealName
    row, so two binds at once add the source once. Call it inside the transaction of whatever proved
    the source (payments calls it while binding a verified card). When the class changes, the
    customer is told by SMS (someone else raising the limits is worth knowing about at once)."""
    from okwallet.accounts.paymentclass import SOURCE_LABELS
    from okwallet.accounts.selectors import class_for_sources

    if source not in SOURCE_LABELS:
        raise ValueError(f"unknown verification source {source!r}")
    realname = RealName.objects.select_for_update().filter(user=user).first()
    if realname is None:
        raise OkError(
            "realname_required", gettext_lazy("Complete real-name verification first."), http_status=403
        )
    if source in realname.sources:
        return realname
    before = class_for_sources(len(set(realname.sources)))
    realname.sources = [*realname.sources, source]
    realname.save(update_fields=["sources"])
    after = class_for_sources(len(set(realname.sources)))
    security_event_record(
        user=user,
        kind="realname_source_added",
        request=request,
        details={**(details or {}), "source": source, "class_before": before, "class_after": after},
    )
    if after != before:
        text = _(
            "[OK Wallet] Your payment account is now Class %(code)s, with higher limits. "
            "If you did not do this, freeze your account at once and call us."
        ) % {"code": after}
        notification_send(channel="sms", kind="payment_class_changed", body=text, user=user)
        notification_send(channel="inapp", kind="payment_class_changed", body=text, user=user)
    return realname


# --- the money gate ----------------------------------------------------------------------


def customer_assert_can_move_money(*, user, outgoing: bool) -> None:
    """Raise OkError unless this customer may move money now (money out needs real-name)."""
    status = User.objects.filter(pk=user.pk).values_list("status", flat=True).first() or user.status
    if status == User.Status.FROZEN:
        raise OkError(
            "account_frozen",
            gettext_lazy(
                "Your account is frozen. Unfreeze it in Security (identity check needed) to move money."
            ),
            http_status=403,
        )
    if status == User.Status.CLOSED:
        raise OkError("account_closed", gettext_lazy("This account is closed."), http_status=403)
    if status == User.Status.CLOSING:
        raise OkError(
            "account_closing",
            gettext_lazy("Your account is being closed. Cancel the closure to use it again."),
            http_status=403,
        )
    if outgoing and not RealName.objects.filter(user_id=user.pk).exists():
        raise OkError(
            "realname_required",
            gettext_lazy("Complete real-name verification before money can leave your wallet."),
            http_status=403,
        )


# --- freeze / unfreeze ---------------------------------------------------------------------

FREEZE_CHANNELS = ("web", "app", "hotline", "agent", "alert")


def account_freeze(*, user, actor=None, reason: str, channel: str, request=None) -> User:
    """Freeze at once (idempotent). Protective, so easy: no identity check beyond the caller's."""
    if channel not in FREEZE_CHANNELS:
        raise ValueError(f"unknown freeze channel {channel!r}")
    if channel == "agent" and not (reason or "").strip():
        raise InvalidInput("reason_required", gettext_lazy("Give a reason for freezing the account."))
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if locked.status == User.Status.FROZEN:
            user.status = locked.status
            return locked
        if locked.status == User.Status.CLOSED:
            raise OkError("account_closed", gettext_lazy("This account is closed."), http_status=409)
        locked.status = User.Status.FROZEN
        locked.frozen_at = now_utc()
        locked.freeze_reason = (reason or "")[:300]
        locked.save(update_fields=["status", "frozen_at", "freeze_reason"])
        user.status, user.frozen_at, user.freeze_reason = (
            locked.status,
            locked.frozen_at,
            locked.freeze_reason,
        )
        from okwallet.accounts.sessions import sessions_revoke_all

        # Whoever else is signed in (a thief with the phone, the intruder of a "not me" alert) is
        # signed out; the customer freezing from this browser stays, to see the state and unfreeze.
        own = request is not None and getattr(getattr(request, "user", None), "pk", None) == locked.pk
        keep = request.session.session_key if own and hasattr(request, "session") else None
        sessions_revoke_all(user=locked, except_session_key=keep)
        security_event_record(
            user=locked,
            kind="account_frozen",
            request=request,
            actor=actor,
            details={
                "channel": channel,
                "reason": locked.freeze_reason,
                "by_staff": bool(actor and actor.is_staff),
            },
        )
        text = _(
            "[OK Wallet] Your account was frozen (%(when)s). Nobody can move money or change security "
            "settings until you unfreeze it with an identity check. If you did not ask for this, call us."
        ) % {"when": locked.frozen_at.strftime("%Y-%m-%d %H:%M UTC")}
        notification_send(channel="sms", kind="account_frozen", body=text, user=locked)
        if locked.email:
            notification_send(
                channel="email",
                kind="account_frozen",
                body=text,
                user=locked,
                subject=_("Your account was frozen"),
            )
    return locked


def account_unfreeze(*, user, request=None, actor=None) -> User:
    """Unfreeze after full identity verification (the caller has checked it: see flows)."""
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if locked.status != User.Status.FROZEN:
            return locked
        locked.status = User.Status.ACTIVE
        locked.save(update_fields=["status"])
        user.status = locked.status
        security_event_record(user=locked, kind="account_unfrozen", request=request, actor=actor)
        notification_send(
            channel="sms",
            kind="account_unfrozen",
            body=_("[OK Wallet] Your account was unfrozen. If this was not you, freeze it again at once."),
            user=locked,
        )
    return locked


def hotline_caller_verify(*, caller_phone: str = "", public_id: str = "", id_last4: str = "") -> User | None:
    """The caller of the hotline, identified enough to FREEZE (never to unfreeze): the registered
    number, or the user ID plus the last 4 characters of the verified ID number."""
    from okwallet.accounts.selectors import customer_by_phone, customer_by_public_id

    if caller_phone:
        user = customer_by_phone(caller_phone)
        if user is not None:
            return user
    if public_id and id_last4:
        user = customer_by_public_id(public_id)
        realname = getattr(user, "realname", None) if user is not None else None
        if realname is not None and hmac.compare_digest(realname.id_last4, id_last4.strip().upper()):
            return user
    return None
