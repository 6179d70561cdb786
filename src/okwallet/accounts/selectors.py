"""Account reads for the other apps (docs/interfaces.md) and for the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from okwallet.accounts import conf
from okwallet.accounts.idcard import age_on
from okwallet.accounts.models import RealName, SecurityEvent, User
from okwallet.accounts.phone import normalise_phone_or_none
from okwallet.core.timeutil import now_utc, to_local


@dataclass(frozen=True)
class PaymentClass:
    code: str | None  # "I" | "II" | "III" | None (not verified: nothing may leave)
    limit_fen: int
    period: str  # "lifetime" | "year"


def realname_for(user) -> RealName | None:
    if user is None or not getattr(user, "pk", None):
        return None
    try:
        return RealName.objects.get(user_id=user.pk)
    except RealName.DoesNotExist:
        return None


def customer_age(user, *, today: date | None = None) -> int | None:
    realname = realname_for(user)
    if realname is None:
        return None
    return age_on(realname.birth_date, today or to_local(now_utc()).date())


def class_for_sources(count: int) -> str | None:
    best = None
    for code, spec in conf.get("OKWALLET_PAYMENT_CLASSES").items():
        if count >= spec["min_sources"]:
            best = code
    return best


def payment_class_for(user) -> PaymentClass:
    realname = realname_for(user)
    if realname is None:
        return PaymentClass(code=None, limit_fen=0, period="lifetime")
    code = class_for_sources(len(set(realname.sources)))
    if code is None:
        return PaymentClass(code=None, limit_fen=0, period="lifetime")
    spec = conf.get("OKWALLET_PAYMENT_CLASSES")[code]
    return PaymentClass(code=code, limit_fen=int(spec["limit_fen"]), period=spec["period"])


def customer_by_phone(phone: str) -> User | None:
    """Accepts 13812345678, 138 1234 5678, +8613812345678, 008613812345678."""
    e164 = normalise_phone_or_none(phone)
    if e164 is None:
        return None
    return User.objects.filter(phone=e164, is_staff=False).first()


def customer_by_public_id(public_id: str) -> User | None:
    public_id = (public_id or "").strip()
    if not public_id.isdigit():
        return None
    return User.objects.filter(public_id=public_id, is_staff=False).first()


def security_events_for(user, *, limit: int = 50, offset: int = 0):
    return list(
        SecurityEvent.objects.filter(user=user).order_by("-created_at", "-id")[offset : offset + limit]
    )
