"""Bank card numbers: Luhn check, the issuing bank from a BIN table, masking."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.utils.translation import gettext_lazy as _

# Debit-card BINs (first six digits) of the major Chinese banks. Not exhaustive: a card whose
# BIN is not here is reported as "bank not supported" rather than guessed.
BANKS = {
    "ICBC": (
        _("Industrial and Commercial Bank of China"),
        "工商银行",
        ["622202", "622208", "621226", "620200", "621225"],
    ),
    "CCB": (_("China Construction Bank"), "建设银行", ["621700", "622700", "436742", "622280"]),
    "ABC": (_("Agricultural Bank of China"), "农业银行", ["622848", "622845", "622846", "622827"]),
    "BOC": (_("Bank of China"), "中国银行", ["621661", "621660", "456351", "601382", "621785"]),
    "CMB": (_("China Merchants Bank"), "招商银行", ["622588", "621483", "621485", "621486", "622580"]),
    "BOCOM": (_("Bank of Communications"), "交通银行", ["622262", "622260", "622258"]),
    "PSBC": (_("Postal Savings Bank of China"), "邮储银行", ["621799", "622188", "621098"]),
    "CITIC": (_("China CITIC Bank"), "中信银行", ["622690", "622691", "621768"]),
    "SPDB": (_("Shanghai Pudong Development Bank"), "浦发银行", ["622521", "622522", "621792"]),
    "CIB": (_("Industrial Bank"), "兴业银行", ["622909", "622908", "966666"]),
    "CEB": (_("China Everbright Bank"), "光大银行", ["622660", "622662", "620518"]),
    "CMBC": (_("China Minsheng Bank"), "民生银行", ["622622", "622615", "621691"]),
}
_BY_BIN = {bin_: code for code, (_en, _zh, bins) in BANKS.items() for bin_ in bins}


def clean_number(number: str) -> str:
    return "".join(ch for ch in (number or "") if not ch.isspace() and ch != "-")


def luhn_ok(number: str) -> bool:
    digits = clean_number(number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    """Append the check digit that makes ``prefix`` pass Luhn (demo data and tests)."""
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise ValueError(prefix)


def bank_for(number: str) -> tuple[str, str] | None:
    """(code, Chinese bank name) or None."""
    code = _BY_BIN.get(clean_number(number)[:6])
    if code is None:
        return None
    return code, BANKS[code][1]


def number_hash(number: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"card:{clean_number(number)}".encode(), hashlib.sha256
    ).hexdigest()


def mask(bank_name: str, last4: str) -> str:
    return f"{bank_name} ****{last4}"
