"""18-digit resident identity numbers (GB 11643-1999): checksum, birth date, gender.

The last character is an ISO 7064 MOD 11-2 check character; digits 7–14 are the birth date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext_lazy as _

from okwallet.core.errors import InvalidInput

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# Province-level codes (first two digits) in use.
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
_SHAPE = re.compile(r"^\d{17}[\dX]$")


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: date
    gender: str  # "m" | "f"

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def last6(self) -> str:
        return self.number[-6:]


def check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse_id_number(text: str, *, today: date | None = None) -> IdNumber:
    """Validate and parse; raises InvalidInput with a specific code for each kind of mistake."""
    number = re.sub(r"\s", "", text or "").upper()
    if not _SHAPE.match(number):
        raise InvalidInput(
            "id_number_format", _("A resident ID number has 18 characters: 17 digits and a digit or X.")
        )
    if int(number[:2]) not in PROVINCES:
        raise InvalidInput("id_number_region", _("The first digits of the ID number are not a valid region."))
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(
            "id_number_birth_date", _("The birth date in the ID number is not a real date.")
        ) from None
    today = today or date.today()
    if birth > today or birth.year < 1900:
        raise InvalidInput("id_number_birth_date", _("The birth date in the ID number is not possible."))
    if check_char(number[:17]) != number[17]:
        raise InvalidInput(
            "id_number_checksum", _("The ID number's last character does not match: please check it.")
        )
    gender = "m" if int(number[16]) % 2 else "f"
    return IdNumber(number=number, birth_date=birth, gender=gender)


def make_id_number(region: str, birth: date, sequence: int) -> str:
    """A checksum-valid number (for the sandbox identities and tests)."""
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
