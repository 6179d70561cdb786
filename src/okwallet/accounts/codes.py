"""One-time verification codes: 6 digits, 5 minutes, at most 5 tries, sends limited per target.

Only an HMAC of each code is stored. The send limits (1 a minute, 10 a day per phone or email)
and the counters are shared by every app process (Redis when configured, the database otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from okwallet.accounts import conf
from okwallet.accounts.models import OneTimeCode
from okwallet.core import ratelimit
from okwallet.core.errors import InvalidInput, OkError, RateLimited
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc

PURPOSE_TEXT = {
    "signup": gettext_lazy("to finish signing up"),
    "login": gettext_lazy("to log in"),
    "reset": gettext_lazy("to reset your password"),
    "step_up": gettext_lazy("to confirm a sensitive action"),
    "verify_email": gettext_lazy("to verify this email address"),
    "contact_old": gettext_lazy("to confirm changing your contact details"),
    "contact_new": gettext_lazy("to confirm your new contact details"),
}


def _digest(purpose: str, target: str, code: str) -> str:
    msg = f"otc:{purpose}:{target}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), msg, hashlib.sha256).hexdigest()


def send_limits_enforce(target: str) -> None:
    """Count one send to ``target`` (1 a minute, 10 a day). Also called when nothing is sent
    (an unknown number asking for a reset), so the answers are the same either way."""
    per_minute = conf.get("OKWALLET_CODE_SENDS_PER_MINUTE")
    per_day = conf.get("OKWALLET_CODE_SENDS_PER_DAY")
    allowed, retry = ratelimit.hit(conf.rl(f"otc:send:min:{target}"), limit=per_minute, window_seconds=60)
    if not allowed:
        raise RateLimited(
            retry,
            code="code_send_too_soon",
            message=gettext_lazy("A code was sent a moment ago. Wait a minute before asking for another."),
        )
    allowed, retry = ratelimit.hit(conf.rl(f"otc:send:day:{target}"), limit=per_day, window_seconds=86400)
    if not allowed:
        raise RateLimited(
            retry,
            code="code_send_daily_limit",
            message=gettext_lazy("Too many codes were sent to this number today. Try again tomorrow."),
        )


def code_send(*, purpose: str, target: str, user=None, channel: str = "sms") -> OneTimeCode:
    """Create and send a new code (earlier unused codes for the same purpose stop working)."""
    if purpose not in OneTimeCode.Purpose.values:
        raise ValueError(f"unknown purpose {purpose!r}")
    send_limits_enforce(target)
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = now_utc()
    with transaction.atomic():
        OneTimeCode.objects.filter(purpose=purpose, target=target, used_at__isnull=True).update(used_at=now)
        row = OneTimeCode.objects.create(
            purpose=purpose,
            target=target,
            user=user,
            code_hash=_digest(purpose, target, code),
            expires_at=now + timedelta(seconds=conf.get("OKWALLET_CODE_TTL_SECONDS")),
        )
        minutes = conf.get("OKWALLET_CODE_TTL_SECONDS") // 60
        body = _(
            "[OK Wallet] Your code %(what)s is %(code)s, valid for %(minutes)s minutes. "
            "OK Wallet staff will never ask you for it: do not share it with anyone."
        ) % {"what": PURPOSE_TEXT[purpose], "code": code, "minutes": minutes}
        notification_send(
            channel=channel,
            kind=f"code_{purpose}",
            body=body,
            user=user,
            to=target,
            subject=_("Your OK Wallet verification code") if channel == "email" else "",
        )
    return row


def code_check(*, purpose: str, target: str, code: str) -> OneTimeCode:
    """Accept the newest code for (purpose, target) once; wrong tries count; clear errors."""
    code = (code or "").strip()
    problem: OkError | None = None
    with transaction.atomic():
        row = (
            OneTimeCode.objects.select_for_update()
            .filter(purpose=purpose, target=target)
            .order_by("-created_at", "-id")
            .first()
        )
        max_tries = conf.get("OKWALLET_CODE_MAX_TRIES")
        if row is None:
            problem = InvalidInput("code_invalid", gettext_lazy("The code is not correct."))
        elif row.used_at is not None:
            problem = InvalidInput(
                "code_used", gettext_lazy("This code was already used or replaced. Ask for a new one.")
            )
        elif row.expires_at <= now_utc():
            problem = InvalidInput("code_expired", gettext_lazy("The code has expired. Ask for a new one."))
        elif row.attempts >= max_tries:
            problem = OkError(
                "code_locked",
                gettext_lazy("Too many wrong codes. Ask for a new code."),
                http_status=429,
            )
        elif not (len(code) == 6 and code.isdigit()) or not hmac.compare_digest(
            row.code_hash, _digest(purpose, target, code)
        ):
            row.attempts += 1
            row.save(update_fields=["attempts"])
            left = max_tries - row.attempts
            if left <= 0:
                problem = OkError(
                    "code_locked", gettext_lazy("Too many wrong codes. Ask for a new code."), http_status=429
                )
            else:
                problem = InvalidInput(
                    "code_invalid",
                    gettext_lazy("The code is not correct."),
                    details={"tries_left": left},
                )
        else:
            row.used_at = now_utc()
            row.save(update_fields=["used_at"])
    if problem is not None:  # raised after the commit so the wrong try is counted
        raise problem
    return row
