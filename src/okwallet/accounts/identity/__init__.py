"""Pluggable identity verification (实名认证) providers.

A provider checks a real name against an 18-digit ID number with an authoritative source
(in production a licensed identity-verification service). ``settings.OKWALLET_IDENTITY_PROVIDER``
names the class; the sandbox ships for development, tests and demos.

The further verification sources that raise the payment-account class (PBoC: a mobile number
registered under the same name and ID number, a social-security record, a face check against the
public-security photo) have one provider each, named in ``settings.OKWALLET_SOURCE_PROVIDERS``
(``{"carrier": "dotted.path.Class", ...}``; a source mapped to ``None`` is switched off). Every
source provider has the same shape::

    class Provider:
        source = "carrier"          # the SOURCE_LABELS key it proves
        name = "sandbox"            # recorded with the verification
        needs = ()                  # customer inputs besides the ID number, e.g. ("face_token",)
        def verify(self, *, name, id_number, phone, face_token="") -> IdentityResult: ...

``verify`` returns ``IdentityResult(ok=False, code=...)`` when the source says no and raises
``IdentityProviderUnavailable`` when it cannot answer. The bank-card source has no provider here:
payments adds it when the channel has verified a card in the customer's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class IdentityResult:
    ok: bool
    code: str = "ok"  # ok | name_mismatch | not_found | unavailable | source-specific codes
    reference: str = ""
    extra: dict = field(default_factory=dict)


class IdentityProviderUnavailable(Exception):
    """The provider could not be reached; the customer may try again later."""


def get_provider():
    path = getattr(
        settings, "OKWALLET_IDENTITY_PROVIDER", "okwallet.accounts.identity.sandbox.SandboxProvider"
    )
    return import_string(path)()


def source_provider_paths() -> dict[str, str | None]:
    from okwallet.accounts import conf

    defaults = conf.DEFAULTS["OKWALLET_SOURCE_PROVIDERS"]
    return {**defaults, **getattr(settings, "OKWALLET_SOURCE_PROVIDERS", {})}


def get_source_provider(source: str):
    """The provider for ``source``, or None when the source cannot be checked here."""
    path = source_provider_paths().get(source)
    return import_string(path)() if path else None
