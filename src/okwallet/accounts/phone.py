"""Mainland China mobile numbers, stored as E.164 (+8613812345678)."""

from __future__ import annotations

import re

import phonenumbers
from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise_phone_or_none(text: str) -> str | None:
    digits = re.sub(r"[\s\-()]", "", text or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.match(digits):
        return None
    number = phonenumbers.parse(digits, "CN")
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(text: str) -> str:
    phone = normalise_phone_or_none(text)
    if phone is None:
        raise InvalidInput(
            "invalid_phone", _("Enter a valid mainland China mobile number, e.g. 138 1234 5678.")
        )
    return phone


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    local = phone[3:] if phone.startswith("+86") else phone
    return local[:3] + "****" + local[-4:] if len(local) >= 7 else "****"
