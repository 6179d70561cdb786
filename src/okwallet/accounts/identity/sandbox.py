"""The sandbox identity and verification-source providers: documented test data, deterministic answers.

Any checksum-valid ID number with a 2–20 character name verifies, except the documented
special identities below (docs/accounts.md lists them, and the source test data).
"""

from __future__ import annotations

import hashlib

from django.utils.translation import gettext_lazy as _

from okwallet.accounts.identity import IdentityProviderUnavailable, IdentityResult

# Test identities that verify (name → ID number). Ages matter: 张秀英 is over 60.
TEST_IDENTITIES = {
    "110101199003071233": "王小明",
    "44030519951120789X": "李华",
    "310104195806154567": "张秀英",
    "330106198801012228": "测试用户",
    "320102199208080059": "赵六",  # verifies, but has no social-security record
}
# The name never matches (the provider says the name and number belong to different people).
MISMATCH_IDS = {"510107197909093336"}
# The provider is "down" for this number (exercise the retry path).
UNAVAILABLE_IDS = {"110105200002294444"}

# Mobile-carrier three-element check (name + ID number + mobile number).
CARRIER_OTHER_OWNER = {"+8613800009999"}  # registered under somebody else's name
CARRIER_UNAVAILABLE = {"+8613800009998"}  # the carrier gateway times out
# Virtual-operator number ranges (虚拟运营商): their carriers do not answer three-element checks.
CARRIER_UNSUPPORTED_PREFIXES = ("+86162", "+86165", "+86167", "+86170", "+86171")

# Social-security record (人社 record for the name + ID number).
NO_SOCIAL_SECURITY_IDS = {"320102199208080059"}

# Face check: the app's face SDK (liveness + comparison with the public-security ID photo) hands
# the client a result token; the server asks the provider what it means. In the sandbox the token
# is the answer itself.
FACE_PASS = "pass"
FACE_FAIL = "fail"
FACE_UNAVAILABLE = "unavailable"


def _reference(prefix: str, *parts: str) -> str:
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:12].upper()


def _name_matches(name: str, id_number: str) -> bool:
    if id_number in MISMATCH_IDS:
        return False
    expected = TEST_IDENTITIES.get(id_number)
    return expected is None or expected == name


class SandboxProvider:
    name = "sandbox"

    def verify(self, *, name: str, id_number: str) -> IdentityResult:
        if id_number in UNAVAILABLE_IDS:
            raise IdentityProviderUnavailable("sandbox: provider unavailable for this test identity")
        ref = "SBX-" + hashlib.sha256(f"{name}|{id_number}".encode()).hexdigest()[:12].upper()
        if not _name_matches(name, id_number):
            return IdentityResult(ok=False, code="name_mismatch", reference=ref)
        return IdentityResult(ok=True, code="ok", reference=ref)


class SandboxCarrierProvider:
    """Passes when the mobile number is registered under this name and ID number: in the sandbox
    every number is, except the documented ones."""

    source = "carrier"
    name = "sandbox-carrier"
    needs: tuple[str, ...] = ()

    def verify(self, *, name: str, id_number: str, phone: str, face_token: str = "") -> IdentityResult:
        if phone in CARRIER_UNAVAILABLE or id_number in UNAVAILABLE_IDS:
            raise IdentityProviderUnavailable("sandbox: carrier gateway unavailable")
        ref = _reference("SBX-MNO", name, id_number, phone)
        if phone.startswith(CARRIER_UNSUPPORTED_PREFIXES):
            return IdentityResult(ok=False, code="carrier_not_supported", reference=ref)
        if phone in CARRIER_OTHER_OWNER or not _name_matches(name, id_number):
            return IdentityResult(ok=False, code="carrier_mismatch", reference=ref)
        return IdentityResult(ok=True, reference=ref)


class SandboxSocialSecurityProvider:
    """Every verified test identity has a social-security record except the documented one."""

    source = "social_security"
    name = "sandbox-social-security"
    needs: tuple[str, ...] = ()

    def verify(self, *, name: str, id_number: str, phone: str, face_token: str = "") -> IdentityResult:
        if id_number in UNAVAILABLE_IDS:
            raise IdentityProviderUnavailable("sandbox: social-security service unavailable")
        ref = _reference("SBX-SSC", name, id_number)
        if id_number in NO_SOCIAL_SECURITY_IDS or not _name_matches(name, id_number):
            return IdentityResult(ok=False, code="social_security_not_found", reference=ref)
        return IdentityResult(ok=True, reference=ref)


class SandboxFaceProvider:
    """The token ``pass`` is a face that matches the ID photo, ``fail`` one that does not,
    ``unavailable`` an outage; anything else is an unknown or expired token."""

    source = "face"
    name = "sandbox-face"
    needs: tuple[str, ...] = ("face_token",)
    # Shown under the token field on the web page (a production provider starts its H5 face flow).
    web_hint = _("Sandbox: type pass for a face that matches your ID photo, or fail for one that does not.")

    def verify(self, *, name: str, id_number: str, phone: str, face_token: str = "") -> IdentityResult:
        token = (face_token or "").strip().lower()
        if token == FACE_UNAVAILABLE or id_number in UNAVAILABLE_IDS:
            raise IdentityProviderUnavailable("sandbox: face service unavailable")
        ref = _reference("SBX-FACE", name, id_number, token)
        if token == FACE_FAIL:
            return IdentityResult(ok=False, code="face_mismatch", reference=ref)
        if token != FACE_PASS:
            return IdentityResult(ok=False, code="face_token_invalid", reference=ref)
        if not _name_matches(name, id_number):
            return IdentityResult(ok=False, code="face_mismatch", reference=ref)
        return IdentityResult(ok=True, reference=ref)
