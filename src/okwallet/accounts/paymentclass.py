"""Payment-account classes (PBoC): what the customer has used and how to upgrade."""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext as _

from okwallet.accounts import conf
from okwallet.accounts.selectors import payment_class_for, realname_for
from okwallet.core import hooks
from okwallet.core.timeutil import now_utc, to_local

SOURCE_LABELS = {
    "identity": lambda: _("ID number checked with the identity service"),
    "bank_card": lambda: _("Bank card in your name (four-element check)"),
    "carrier": lambda: _("Mobile number registered in your name"),
    "social_security": lambda: _("Social-security record"),
    "face": lambda: _("Face verification"),
}


def period_start(period: str, user) -> datetime | None:
    if period == "year":
        local = to_local(now_utc())
        return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None  # lifetime: since the account was opened


def outgoing_used_fen(user, *, since: datetime | None) -> int | None:
    """Sum of money out (payments' ``payment_outgoing_fen(user, since=)`` hook); None if unknown."""
    results = hooks.collect("payment_outgoing_fen", user, since=since)
    return int(sum(results)) if results else None


def payment_class_overview(user) -> dict:
    pc = payment_class_for(user)
    realname = realname_for(user)
    sources = list(realname.sources) if realname else []
    used = outgoing_used_fen(user, since=period_start(pc.period, user)) if pc.code else None
    classes = conf.get("OKWALLET_PAYMENT_CLASSES")
    upgrade = []
    for code, spec in classes.items():
        if pc.code is not None and code <= pc.code:
            continue
        upgrade.append(
            {
                "code": code,
                "limit_fen": spec["limit_fen"],
                "period": spec["period"],
                "sources_needed": max(0, spec["min_sources"] - len(set(sources))),
                "missing": [k for k in SOURCE_LABELS if k not in sources],
            }
        )
    return {
        "code": pc.code,
        "limit_fen": pc.limit_fen,
        "period": pc.period,
        "used_fen": used,
        "remaining_fen": None if used is None else max(0, pc.limit_fen - used),
        "sources": sources,
        "upgrade": upgrade,
    }
