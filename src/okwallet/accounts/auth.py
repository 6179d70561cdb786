"""Logging in: lockout per account and per IP, the second factor, new-device / new-network alerts.

The same message and the same work for unknown and known accounts (no user enumeration):
the per-account counter is keyed by the normalised identifier, whether or not it exists.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import authenticate
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from okwallet.accounts import conf
from okwallet.accounts.models import KnownDevice, KnownNetwork, User
from okwallet.accounts.phone import normalise_phone_or_none
from okwallet.accounts.services import security_event_record
from okwallet.accounts.twofactor import second_factor_methods
from okwallet.core import ratelimit
from okwallet.core.audit import client_ip
from okwallet.core.errors import OkError, RateLimited
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc

DEVICE_COOKIE = "okw_dev"
CHALLENGE_SALT = "okwallet.accounts.login-challenge"
NOT_ME_SALT = "okwallet.accounts.not-me"


def identifier_key(identifier: str) -> str:
    ident = (identifier or "").strip().lower()
    phone = normalise_phone_or_none(ident)
    return hashlib.sha256((phone or ident).encode()).hexdigest()[:24]


def _lock_window() -> int:
    return conf.get("OKWALLET_LOGIN_LOCK_SECONDS")


def _retry_after(window: int) -> int:
    import time

    now = time.time()
    return int((now // window) * window + window - now) + 1


def login_guard(*, identifier: str, ip: str | None) -> None:
    """Refuse before checking the password when this IP or account is locked out.

    The per-account counter is taken atomically *before* the password is checked (and cleared by
    a successful login), so however many processes an attacker spreads the guesses over, at most
    the limit reach the password check in a window."""
    window = _lock_window()
    if ip:
        per_ip = ratelimit.peek(conf.rl(f"login:fail:ip:{ip}"), window_seconds=window)
        if per_ip >= conf.get("OKWALLET_LOGIN_FAILS_PER_IP"):
            raise RateLimited(_retry_after(window), code="login_ip_locked")
    allowed, retry = ratelimit.hit(
        conf.rl(f"login:fail:acct:{identifier_key(identifier)}"),
        limit=conf.get("OKWALLET_LOGIN_FAILS_PER_ACCOUNT"),
        window_seconds=window,
    )
    if not allowed:
        raise RateLimited(
            retry,
            code="login_locked",
            message=gettext_lazy(
                "Too many failed attempts. Try again later, or reset your password to unlock at once."
            ),
        )


def login_failed(*, identifier: str, ip: str | None) -> None:
    if ip:
        ratelimit.hit(conf.rl(f"login:fail:ip:{ip}"), limit=10**6, window_seconds=_lock_window())


def login_succeeded(*, identifier: str) -> None:
    ratelimit.reset(conf.rl(f"login:fail:acct:{identifier_key(identifier)}"), window_seconds=_lock_window())


def login_unlock(*, user) -> None:
    """Clear the per-account counter (after a password reset): the unlock path."""
    for ident in filter(None, [user.phone, user.public_id, user.email, user.username]):
        ratelimit.reset(conf.rl(f"login:fail:acct:{identifier_key(ident)}"), window_seconds=_lock_window())


@dataclass
class PasswordResult:
    user: User
    methods: list[str] = field(default_factory=list)  # second factors; empty = done


def password_check(*, request, identifier: str, password: str) -> PasswordResult:
    ip = client_ip(request)
    login_guard(identifier=identifier, ip=ip)
    user = authenticate(request, username=identifier, password=password)
    if user is None:
        login_failed(identifier=identifier, ip=ip)
        raise OkError(
            "invalid_credentials", gettext_lazy("The account or password is incorrect."), http_status=401
        )
    login_succeeded(identifier=identifier)
    return PasswordResult(user=user, methods=[] if user.is_staff else second_factor_methods(user))


def second_factor_guard(*, user) -> None:
    ratelimit.enforce(conf.rl(f"login:2fa:{user.pk}"), limit=10, window_seconds=900)


# --- API challenge for the second step -------------------------------------------------


def challenge_issue(user) -> str:
    return signing.dumps({"u": user.pk, "n": secrets.token_hex(4)}, salt=CHALLENGE_SALT)


def challenge_user(token: str) -> User | None:
    try:
        data = signing.loads(token or "", salt=CHALLENGE_SALT, max_age=300)
    except signing.BadSignature:
        return None
    return User.objects.filter(pk=data.get("u"), is_active=True).first()


# --- device and network memory, anomaly alerts --------------------------------------------


def network_of(ip: str | None) -> str:
    if not ip:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def device_hash(device_id: str) -> str:
    return hashlib.sha256(f"dev:{device_id}".encode()).hexdigest()


def new_device_id() -> str:
    return secrets.token_urlsafe(24)


@transaction.atomic
def login_completed(*, request, user, device_id: str, method: str = "password", channel: str = "web") -> dict:
    """Record the login, remember device and network, alert on a new device or network."""
    now = now_utc()
    ip = client_ip(request)
    net = network_of(ip)
    had_devices = KnownDevice.objects.filter(user=user).exists()
    dev_hash = device_hash(device_id) if device_id else ""
    new_device = bool(dev_hash) and not KnownDevice.objects.filter(user=user, device_hash=dev_hash).exists()
    since = now - timedelta(days=conf.get("OKWALLET_NETWORK_MEMORY_DAYS"))
    new_network = (
        bool(net) and not KnownNetwork.objects.filter(user=user, network=net, last_seen__gte=since).exists()
    )
    if dev_hash:
        KnownDevice.objects.update_or_create(
            user=user,
            device_hash=dev_hash,
            defaults={"last_seen": now, "label": request.META.get("HTTP_USER_AGENT", "")[:120]},
        )
    if net:
        KnownNetwork.objects.update_or_create(user=user, network=net, defaults={"last_seen": now})
    anomalies = []
    if had_devices and new_device:
        anomalies.append("new_device")
    if had_devices and new_network:
        anomalies.append("new_network")
    event = security_event_record(
        user=user,
        kind="login",
        request=request,
        details={"method": method, "channel": channel, "network": net, "anomalies": anomalies},
    )
    if anomalies and not user.is_staff:
        login_alert_send(request=request, user=user, event_id=event.pk, anomalies=anomalies)
    return {"anomalies": anomalies, "event_id": event.pk}


def not_me_token(user, event_id: int) -> str:
    return signing.dumps({"u": user.pk, "e": event_id}, salt=NOT_ME_SALT)


def not_me_user(token: str) -> tuple[User | None, int | None]:
    try:
        data = signing.loads(token, salt=NOT_ME_SALT, max_age=60 * 60 * 24 * 14)
    except signing.BadSignature:
        return None, None
    return User.objects.filter(pk=data.get("u")).first(), data.get("e")


def login_alert_send(*, request, user, event_id: int, anomalies: list[str]) -> None:
    url = request.build_absolute_uri(reverse("accounts:not_me", args=[not_me_token(user, event_id)]))
    where = network_of(client_ip(request)) or "?"
    what = _("a new device") if "new_device" in anomalies else _("a new network")
    body = _(
        "[OK Wallet] New login to your account from %(what)s (%(where)s) at %(when)s UTC. "
        "If this wasn't you, freeze your account now: %(url)s"
    ) % {"what": what, "where": where, "when": now_utc().strftime("%Y-%m-%d %H:%M"), "url": url}
    notification_send(channel="sms", kind="login_alert", body=body, user=user)
    if user.email:
        notification_send(
            channel="email",
            kind="login_alert",
            body=body,
            user=user,
            subject=_("New login to your OK Wallet account"),
        )
