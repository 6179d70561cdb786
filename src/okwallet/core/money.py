"""Money is an integer number of fen. Never a float."""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput

FEN_PER_YUAN = 100
MAX_AMOUNT_FEN = 10**15  # far above any real balance, far below BIGINT overflow

_YUAN_RE = re.compile(r"^\s*(?P<sign>-)?(?P<int>[0-9]{1,13})(?:\.(?P<frac>[0-9]{1,2}))?\s*$")


def format_fen(amount_fen: int, *, symbol: str = "¥") -> str:
    """Display fen as ¥1,234.50 (negative amounts as -¥1,234.50)."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise TypeError("amount_fen must be an int")
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{symbol}{yuan:,}.{fen:02d}"


def parse_yuan(text: str) -> int:
    """Parse '1234.5' or '1,234.50' typed by a person into fen; raises InvalidInput."""
    cleaned = (text or "").replace(",", "").replace("¥", "").replace("￥", "")
    match = _YUAN_RE.match(cleaned)
    if not match:
        raise InvalidInput(
            "invalid_amount", _("Enter an amount such as 100 or 100.50."), details={"value": text[:40]}
        )
    fen = int(match["int"]) * FEN_PER_YUAN + int((match["frac"] or "0").ljust(2, "0"))
    return -fen if match["sign"] else fen


def check_amount_fen(amount_fen: object) -> int:
    """Validate an amount coming from outside: a positive integer of fen within range."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput("amount_not_integer", _("The amount must be a whole number of fen."))
    if amount_fen <= 0:
        raise InvalidInput("amount_must_be_positive", _("The amount must be greater than zero."))
    if amount_fen > MAX_AMOUNT_FEN:
        raise InvalidInput("amount_too_large", _("The amount is too large."))
    return amount_fen
