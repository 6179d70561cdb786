"""Raising the payment-account class (PBoC Class I → II → III) by adding verification sources.

Class I needs one source (the identity check of real-name verification), Class II three and
Class III five (``OKWALLET_PAYMENT_CLASSES``). The sources, as Alipay and WeChat Pay use them:

- ``identity``: name + ID number checked with the identity service (real-name verification);
- ``bank_card``: a debit card in the customer's name verified by the bank (payments adds it
  when a card is bound, see ``okwallet.payments.services.card_bind``);
- ``carrier``: the account's mobile number is registered under the same name and ID number
  (the carrier's three-element check);
- ``social_security``: a social-security record for the name and ID number;
- ``face``: a live face compared with the public-security ID photo (the app's face SDK gives a
  result token the server checks).

The self-service ones (those with a provider in ``OKWALLET_SOURCE_PROVIDERS``) are added here.
The full ID number is never stored, so the customer types it again; it must be the number they
verified with (its keyed hash is compared), which also makes it a knowledge check. Pages and the
API ask for a step-up check (purpose ``realname_upgrade``) first.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from okwallet.accounts import conf
from okwallet.accounts.identity import IdentityProviderUnavailable, get_source_provider
from okwallet.accounts.models import RealName, User
from okwallet.accounts.paymentclass import SOURCE_LABELS
from okwallet.accounts.services import realname_add_source, realname_id_number_check, security_event_record
from okwallet.core import ratelimit
from okwallet.core.errors import InvalidInput, OkError, RateLimited

# What a provider's "no" means to the customer: (error code, message). Each is a 422: the data
# was checked and did not match; nothing was recorded.
REFUSALS = {
    "carrier_mismatch": _(
        "Your mobile carrier says this number is not registered under your name and ID number. "
        "If the number is in someone else's name, use another verification method."
    ),
    "carrier_not_supported": _(
        "Your mobile carrier cannot confirm who the number is registered to (virtual-operator "
        "numbers such as 170/171 cannot be checked). Use another verification method."
    ),
    "social_security_not_found": _(
        "No social-security record was found for your name and ID number. Use another verification method."
    ),
    "face_mismatch": _(
        "The face check did not match the photo on your ID record. Try again in good light, "
        "without glasses or a mask."
    ),
    "face_token_invalid": _("The face check has expired or was not completed. Start the face check again."),
}
GENERIC_REFUSAL = _("The verification did not succeed. Check your details or use another method.")


def self_service_sources() -> list[str]:
    """Sources a customer can add here, in the order they are shown."""
    return [s for s in SOURCE_LABELS if get_source_provider(s) is not None]


def source_needs(source: str) -> tuple[str, ...]:
    provider = get_source_provider(source)
    return tuple(getattr(provider, "needs", ())) if provider is not None else ()


def _assert_account_usable(user) -> None:
    status = User.objects.filter(pk=user.pk).values_list("status", flat=True).first() or user.status
    if status == User.Status.FROZEN:
        raise OkError(
            "account_frozen",
            _("Your account is frozen: unfreeze it before changing security settings."),
            http_status=403,
        )
    if status in (User.Status.CLOSING, User.Status.CLOSED):
        raise OkError(
            "account_closing",
            _("Your account is being closed. Cancel the closure to use it again."),
            http_status=403,
        )


def source_assert_addable(*, user, source: str) -> RealName:
    """The checks that need no input: known source, checkable here, verified, account usable.

    Raises ``unknown_source`` (404), ``source_needs_card`` (409: bind a card in the wallet),
    ``source_not_available`` (409), ``realname_required`` (403), ``account_frozen`` /
    ``account_closing`` (403). Returns the customer's RealName."""
    if source not in SOURCE_LABELS:
        raise OkError("unknown_source", _("There is no such verification method."), http_status=404)
    if source == "bank_card":
        raise OkError(
            "source_needs_card",
            _("Bind a debit card in your own name in the wallet: the bank's check adds this source."),
            http_status=409,
            details={"source": source, "api": "POST /api/v1/wallet/cards"},
        )
    realname = RealName.objects.filter(user_id=user.pk).first()
    if realname is None:
        raise OkError("realname_required", _("Complete real-name verification first."), http_status=403)
    if source != "identity" and get_source_provider(source) is None:
        raise OkError(
            "source_not_available",
            _("This verification method is not available yet. Use another one."),
            http_status=409,
        )
    _assert_account_usable(user)
    return realname


def realname_source_verify(
    *, user, source: str, id_number: str, face_token: str = "", request=None
) -> tuple[RealName, bool]:
    """Check one more source with its provider and record it. Returns (realname, added).

    Idempotent: a source already recorded returns ``added=False`` without asking the provider.
    Wrong data changes nothing but the security history (a ``realname_source_failed`` event, kept
    even though the call raises) and the attempt counter (``OKWALLET_SOURCE_CHECKS_PER_HOUR`` per
    customer → 429 ``source_checks_too_many``). The provider is asked outside any transaction (no
    lock is held over a network call); the source is then added under the RealName row lock.
    Call outside a transaction so the failure event is kept."""
    realname = source_assert_addable(user=user, source=source)
    if source == "identity" or source in realname.sources:  # identity: real-name verification itself
        return realname, False
    allowed, retry = ratelimit.hit(
        conf.rl(f"realname_source:{user.pk}"),
        limit=conf.get("OKWALLET_SOURCE_CHECKS_PER_HOUR"),
        window_seconds=3600,
    )
    if not allowed:
        raise RateLimited(
            retry,
            code="source_checks_too_many",
            message=_("Too many verification attempts. Try again in an hour."),
        )
    try:
        number = realname_id_number_check(user=user, id_number=id_number)
    except InvalidInput as exc:
        if exc.code == "realname_id_mismatch":
            _failed(user=user, source=source, code="id_number_mismatch", request=request)
        raise
    needs = source_needs(source)
    if "face_token" in needs and not (face_token or "").strip():
        raise InvalidInput("face_token_required", _("Complete the face check first."))
    provider = get_source_provider(source)
    try:
        result = provider.verify(
            name=realname.name, id_number=number, phone=user.phone or "", face_token=face_token or ""
        )
    except IdentityProviderUnavailable:
        raise OkError(
            "verification_provider_unavailable",
            _("This verification is unavailable right now. Please try again in a few minutes."),
            http_status=503,
        ) from None
    if not result.ok:
        _failed(user=user, source=source, code=result.code, request=request)
        code = result.code if result.code in REFUSALS else "source_verification_failed"
        raise InvalidInput(code, REFUSALS.get(result.code, GENERIC_REFUSAL), details={"source": source})
    with transaction.atomic():
        realname = realname_add_source(
            user=user,
            source=source,
            request=request,
            details={
                "provider": getattr(provider, "name", type(provider).__name__),
                "reference": result.reference,
            },
        )
    return realname, True


def _failed(*, user, source: str, code: str, request) -> None:
    with transaction.atomic():
        security_event_record(
            user=user,
            kind="realname_source_failed",
            request=request,
            details={"source": source, "code": code},
        )


def sources_overview(user) -> list[dict]:
    """Every verification source with its state and how the customer adds it.

    ``how``: ``realname`` (the identity check itself), ``check`` (a form here: the ID number plus
    ``needs``), ``link`` (another app does it: payments binds a card, from the
    ``realname_source_actions`` hook), ``unavailable``."""
    from okwallet.accounts.selectors import realname_for
    from okwallet.core import hooks

    realname = realname_for(user)
    have = set(realname.sources) if realname else set()
    actions = {a["source"]: a for a in hooks.collect_flat("realname_source_actions", user)}
    checkable = set(self_service_sources())
    rows = []
    for key, label in SOURCE_LABELS.items():
        action = actions.get(key, {})
        if key == "identity":
            how = "realname"
        elif key in checkable:
            how = "check"
        elif action:
            how = "link"
        else:
            how = "unavailable"
        rows.append(
            {
                "source": key,
                "label": str(label()),
                "verified": key in have,
                "how": how,
                "needs": ["id_number", *source_needs(key)] if how == "check" else [],
                "url": action.get("url", ""),
                "action_label": str(action.get("label", "")),
                "api": action.get("api", f"POST /api/v1/me/realname/sources/{key}" if how == "check" else ""),
            }
        )
    return rows
