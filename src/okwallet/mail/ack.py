"""The automatic acknowledgement: ticket number and the promised reply date in working days."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django.utils import translation
from django.utils.translation import gettext as _

from okwallet.core.timeutil import SHANGHAI, to_local

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def add_working_days(start: datetime, days: int) -> datetime:
    """The hours module's working-day arithmetic (China's calendar), or a weekday fallback."""
    try:
        from okwallet.hours.businesstime import add_working_days as hours_add_working_days
    except ImportError:
        hours_add_working_days = None
    if hours_add_working_days is not None:
        try:
            # The email channel's own service hours decide the hour of the promise.
            return hours_add_working_days(start, days, schedule="email")
        except Exception:  # noqa: BLE001 - no email schedule configured: the module's default hours
            return hours_add_working_days(start, days)
    # Fallback until okwallet.hours.businesstime lands: Monday–Friday, 18:00 Asia/Shanghai.
    local = start.astimezone(SHANGHAI).date()
    remaining = days
    while remaining > 0:
        local += timedelta(days=1)
        if local.weekday() < 5:
            remaining -= 1
    return datetime.combine(local, time(18, 0), tzinfo=SHANGHAI)


def language_for(*, customer, subject: str, text: str) -> str:
    """The customer's chosen language, else Chinese when they wrote Chinese, else English."""
    preferred = (getattr(customer, "preferred_language", "") or "").lower()
    if preferred.startswith("zh"):
        return "zh-hans"
    if preferred.startswith("en"):
        return "en"
    sample = f"{subject}\n{text[:500]}"
    if _CJK.search(sample) or not sample.strip():
        return "zh-hans"
    return "en"


def format_promise(deadline: datetime, lang: str) -> str:
    local = to_local(deadline)
    if lang.startswith("zh"):
        return f"{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local:%d %b} {local:%H:%M}"


def render_ack(*, number: str, name: str, lang: str, received_at: datetime, days: int) -> tuple[str, str]:
    """(subject suffix, body) of the acknowledgement in ``lang``."""
    deadline = add_working_days(received_at, days)
    with translation.override(lang):
        greeting = _("Dear %(name)s,") % {"name": name} if name else _("Hello,")
        lines = [
            greeting,
            "",
            _("We have received your email. Your ticket number is %(number)s.") % {"number": number},
            _("We will reply within %(days)s working days (before %(deadline)s).")
            % {"days": days, "deadline": format_promise(deadline, lang)},
            _("To add information, reply to this email and keep the ticket number in the subject."),
            "",
            _("OK Wallet staff will never ask for your password, payment PIN or SMS verification code."),
            "",
            _("OK Wallet Customer Service"),
            _("(This is an automatic reply.)"),
        ]
        subject = _("We received your email")
    return subject, "\n".join(lines)
