"""Password rules, each with its own message (settings.AUTH_PASSWORD_VALIDATORS).

Enforced: common passwords (Django's list plus common Chinese ones and patterns), personal
facts (phone number, user ID, birth date), the last 5 passwords. Composition (letters + digits
+ symbols) is advice only (NIST 800-63B), shown by the strength meter.
"""

from __future__ import annotations

import re
from datetime import date

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from okwallet.accounts import conf

# Frequently leaked Chinese passwords (CSDN/Tianya/12306 leaks and yearly top lists).
CHINESE_COMMON = {
    "123456",
    "123456789",
    "12345678",
    "111111",
    "000000",
    "123123",
    "5201314",
    "520520",
    "1314520",
    "woaini",
    "woaini1314",
    "woaini520",
    "woaini521",
    "iloveyou",
    "a123456",
    "a123456789",
    "qq123456",
    "qwe123",
    "abc123",
    "aa123456",
    "abc123456",
    "123qwe",
    "1qaz2wsx",
    "zxcvbnm",
    "asdfghjkl",
    "qwertyuiop",
    "147258369",
    "123321",
    "112233",
    "666666",
    "888888",
    "88888888",
    "66666666",
    "11111111",
    "987654321",
    "7758521",
    "woaiwojia",
    "wangyut2",
    "dearbook",
    "admin123",
    "password1",
    "huang123",
    "zhang123",
    "wang123",
    "li123456",
    "chen123",
    "liu123456",
    "aini1314",
    "1314521",
    "qazwsx",
    "qwer1234",
    "asd123",
    "zxc123",
    "wodemima",
    "mima123",
    "mima1234",
    "caonima",
    "nihao123",
    "shanghai",
    "beijing",
    "beijing2008",
    "taobao123",
    "alipay123",
    "weixin123",
    "wechat123",
    "okwallet",
    "okwallet123",
    "qianbao123",
}
KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "1qaz2wsx3edc4rfv", "0987654321"]


def _normalise(password: str) -> str:
    return password.strip().lower()


def looks_common(password: str) -> bool:
    p = _normalise(password)
    if p in CHINESE_COMMON:
        return True
    if len(set(p)) <= 2:  # 11111111, 12121212, aaaaaaaa
        return True
    if any(p in row or p in row[::-1] for row in KEYBOARD_ROWS if len(p) >= 6):
        return True
    core = re.sub(r"[^a-z0-9]", "", p)
    if core.isdigit() and re.fullmatch(r"[1-9]\d{4,10}", core):  # QQ numbers are 5–11 digits
        return True
    if looks_like_date(core):
        return True
    # pinyin love phrases with a number: woaini + anything, 5201314 inside
    return bool(re.fullmatch(r"(woaini|iloveyou|aini)\d*", core) or "5201314" in core)


def looks_like_date(text: str) -> bool:
    """19900307, 900307, 1990-03-07 style birthdays."""
    digits = re.sub(r"\D", "", text)
    if digits != re.sub(r"[-./ ]", "", text):
        return False
    for fmt_len, y_len in ((8, 4), (6, 2)):
        if len(digits) == fmt_len:
            year = int(digits[:y_len]) + (0 if y_len == 4 else 1900)
            try:
                date(year if y_len == 4 else year, int(digits[y_len : y_len + 2]), int(digits[y_len + 2 :]))
            except ValueError:
                continue
            return y_len == 2 or 1900 <= year <= 2100
    return False


_django_common = None


def _in_django_list(password: str) -> bool:
    """Django's CommonPasswordValidator already says so: one message is enough."""
    global _django_common
    if _django_common is None:
        from django.contrib.auth.password_validation import CommonPasswordValidator

        _django_common = CommonPasswordValidator().passwords
    return password.lower().strip() in _django_common


class ChineseCommonPasswordValidator:
    def validate(self, password, user=None):
        if looks_common(password) and not _in_django_list(password):
            raise ValidationError(
                _(
                    "This password is too common (for example 123456, 5201314, woaini1314, a QQ number or a date)."
                ),
                code="password_too_common",
            )

    def get_help_text(self):
        return _("Don't use a common password, a QQ number or a date.")


def _personal_strings(user) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if user is None:
        return found
    phone = getattr(user, "phone", "") or ""
    if phone:
        local = phone[3:] if phone.startswith("+86") else phone
        found.append(("phone", local))
        found.append(("phone", local[-8:]))
    if getattr(user, "public_id", None):
        found.append(("public_id", user.public_id))
    birth = getattr(user, "_okw_birth_date", None)
    if birth is None and getattr(user, "pk", None):
        from okwallet.accounts.models import RealName

        birth = RealName.objects.filter(user_id=user.pk).values_list("birth_date", flat=True).first()
    if birth:
        found += [("birth", birth.strftime("%Y%m%d")), ("birth", birth.strftime("%y%m%d"))]
    return found


class PersonalInfoPasswordValidator:
    def validate(self, password, user=None):
        compact = re.sub(r"[\s\-./]", "", password)
        for kind, value in _personal_strings(user):
            if value and len(value) >= 6 and value in compact:
                messages = {
                    "phone": _("The password must not contain your mobile number."),
                    "public_id": _("The password must not contain your user ID."),
                    "birth": _("The password must not contain your birth date."),
                }
                raise ValidationError(messages[kind], code=f"password_contains_{kind}")

    def get_help_text(self):
        return _("Don't use your mobile number, user ID or birth date in the password.")


class PasswordHistoryValidator:
    def validate(self, password, user=None):
        if user is None or not getattr(user, "pk", None):
            return
        keep = conf.get("OKWALLET_PASSWORD_HISTORY")
        hashes = [user.password] if user.password else []
        from okwallet.accounts.models import PasswordHistory

        hashes += list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True)[:keep])
        for encoded in hashes[:keep]:
            if encoded and check_password(password, encoded):
                raise ValidationError(
                    _("Choose a password you have not used for your last %(n)s passwords.") % {"n": keep},
                    code="password_reused",
                )

    def password_changed(self, password, user=None):
        """Remember the new hash (called by Django after set_password + save)."""
        if user is None or not getattr(user, "pk", None) or not user.password:
            return
        from okwallet.accounts.models import PasswordHistory

        PasswordHistory.objects.create(user=user, password=user.password)
        keep = conf.get("OKWALLET_PASSWORD_HISTORY")
        old = list(PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[keep:])
        if old:
            PasswordHistory.objects.filter(pk__in=old).delete()

    def get_help_text(self):
        return _("Don't reuse one of your last 5 passwords.")


def password_strength(password: str) -> dict:
    """Advice for the meter: 0–4 and hints (mirrors static/accounts/strength.js)."""
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    score = 0
    if len(password) >= 8:
        score += 1
    if len(password) >= 12:
        score += 1
    score += max(0, classes - 1)
    if looks_common(password):
        score = 0
    return {"score": min(score, 4), "classes": classes, "length": len(password)}
