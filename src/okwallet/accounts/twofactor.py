"""Second factors: TOTP (authenticator app) with recovery codes, or SMS codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from okwallet.accounts.models import RecoveryCode
from okwallet.core.errors import InvalidInput
from okwallet.core.timeutil import now_utc

RECOVERY_CODE_COUNT = 10


def totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def second_factor_methods(user) -> list[str]:
    """What this customer can prove after the password ('totp' includes recovery codes)."""
    methods = []
    if totp_device(user) is not None:
        methods += ["totp", "recovery_code"]
    if getattr(user, "sms_second_factor", False) and user.phone:
        methods.append("sms")
    return methods


def totp_setup_start(*, user) -> TOTPDevice:
    """A fresh unconfirmed device (replaces an earlier unconfirmed one)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def totp_pending_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def totp_uri(device: TOTPDevice, *, account_label: str) -> str:
    import pyotp

    secret = totp_secret_b32(device)
    return pyotp.TOTP(secret).provisioning_uri(name=account_label, issuer_name="OK Wallet")


def totp_secret_b32(device: TOTPDevice) -> str:
    import base64

    return base64.b32encode(device.bin_key).decode().rstrip("=")


def totp_qr_svg(uri: str) -> str:
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return img.to_string(encoding="unicode")


def totp_verify(device: TOTPDevice, token: str) -> bool:
    token = (token or "").strip().replace(" ", "")
    if not (token.isdigit() and len(token) == 6):
        return False
    return bool(device.verify_token(token))


@transaction.atomic
def totp_setup_confirm(*, user, token: str) -> list[str]:
    device = totp_pending_device(user)
    if device is None:
        raise InvalidInput("totp_not_started", _("Start setting up the authenticator app first."))
    if not totp_verify(device, token):
        raise InvalidInput(
            "totp_invalid", _("The authenticator code is not correct. Check the time on your phone.")
        )
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return recovery_codes_regenerate(user=user)


def totp_disable(*, user) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()


def _recovery_digest(code: str) -> str:
    clean = code.replace("-", "").replace(" ", "").lower()
    return hmac.new(settings.SECRET_KEY.encode(), f"rc:{clean}".encode(), hashlib.sha256).hexdigest()


def recovery_codes_regenerate(*, user) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _i in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        RecoveryCode.objects.create(user=user, code_hash=_recovery_digest(code))
    return codes


def recovery_code_use(*, user, code: str) -> bool:
    with transaction.atomic():
        row = (
            RecoveryCode.objects.select_for_update()
            .filter(user=user, code_hash=_recovery_digest(code or ""), used_at__isnull=True)
            .first()
        )
        if row is None:
            return False
        row.used_at = now_utc()
        row.save(update_fields=["used_at"])
        return True


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def second_factor_check(*, user, method: str, code: str, purpose: str = "login") -> None:
    """Raise InvalidInput unless ``code`` proves ``method`` for this user."""
    from okwallet.accounts.codes import code_check

    methods = second_factor_methods(user)
    if method not in methods and not (method == "sms" and purpose == "step_up" and user.phone):
        raise InvalidInput(
            "second_factor_method", _("That verification method is not set up for this account.")
        )
    if method == "totp":
        device = totp_device(user)
        if device is None or not totp_verify(device, code):
            raise InvalidInput("totp_invalid", _("The authenticator code is not correct."))
    elif method == "recovery_code":
        if not recovery_code_use(user=user, code=code):
            raise InvalidInput(
                "recovery_code_invalid", _("That recovery code is not valid or was already used.")
            )
    elif method == "sms":
        code_check(purpose=purpose, target=user.phone, code=code)
