"""Is this phone number, website or email address really OK Wallet's?

Reads the contact source (contact channels + official identities, okwallet.contact); answers with
the official label when it matches, and specific advice when it does not (including look-alike
domains such as okwallet-service.com).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.utils.translation import get_language
from django.utils.translation import gettext as _

BRAND_WORDS = ("okwallet", "ok-wallet", "okqianbao", "okpay")


@dataclass
class Verdict:
    kind: str  # phone | url | email | unknown
    value: str  # normalised
    official: bool
    label: str = ""
    lookalike: bool = False
    advice: list[str] = field(default_factory=list)


def _digits(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 7:
            digits = digits[len(prefix) :]
            break
    return digits


def _official() -> list[tuple[str, str, str]]:
    """(kind, value, label) from the contact source."""
    from okwallet.contact.models import ContactChannel, OfficialIdentity

    english = (get_language() or "").startswith("en")
    rows = []
    for ch in ContactChannel.objects.filter(enabled=True).exclude(value=""):
        kind = "email" if "@" in ch.value else "phone"
        rows.append((kind, ch.value, ch.label_en if english else ch.label_zh))
    for ident in OfficialIdentity.objects.all():
        rows.append((ident.kind, ident.value, ident.note_en if english else ident.note_zh))
    return rows


def classify(text: str) -> str:
    text = text.strip()
    if "://" in text or text.lower().startswith("www."):
        return "url"
    if "@" in text and " " not in text:
        return "email"
    if re.search(r"[a-zA-Z]", text) and ("." in text or "/" in text):
        return "url"
    if len(re.sub(r"\D", "", text)) >= 5 and re.fullmatch(r"[\d\s+\-()]+", text):
        return "phone"
    return "unknown"


def _host(text: str) -> str:
    text = text.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return host.lower().rstrip(".")


def _domain_matches(host: str, domain: str) -> bool:
    domain = domain.lower().strip().lstrip("@")
    return host == domain or host.endswith("." + domain)


def verify(text: str) -> Verdict:
    text = (text or "").strip()[:500]
    kind = classify(text)
    official = _official()
    general = [
        _(
            "OK Wallet staff never ask for your password, verification codes or to move money to a 'safe account'."
        ),
        _("If in doubt, hang up and call us back on the number on this website."),
    ]
    if kind == "phone":
        digits = _digits(text)
        for k, value, label in official:
            if k == "phone" and _digits(value) == digits:
                return Verdict(
                    kind,
                    digits,
                    True,
                    label,
                    advice=[
                        _(
                            "This is an official OK Wallet number. Even so, never tell anyone a verification code."
                        )
                    ],
                )
        return Verdict(
            kind,
            digits,
            False,
            advice=[
                _(
                    "This number is not one of OK Wallet's. Calls about 'refunds', 'account problems' or 'lowering your credit' from it are scams."
                ),
                *general,
            ],
        )
    if kind == "email":
        address = text.lower()
        domain = address.rsplit("@", 1)[1]
        for k, value, label in official:
            if k == "email" and (address == value.lower() or _domain_matches(domain, value.split("@")[-1])):
                return Verdict(
                    kind, address, True, label, advice=[_("This is an official OK Wallet address.")]
                )
        look = any(w in domain.replace(".", "") for w in BRAND_WORDS)
        return Verdict(
            kind,
            address,
            False,
            lookalike=look,
            advice=[
                _("This address is not OK Wallet's. Don't open its attachments or links.")
                if not look
                else _("This address imitates OK Wallet's name but is not ours: it is a phishing attempt."),
                *general,
            ],
        )
    if kind == "url":
        host = _host(text)
        for k, value, label in official:
            if k == "domain" and host and _domain_matches(host, value):
                return Verdict(
                    kind,
                    host,
                    True,
                    label,
                    advice=[_("This is an official OK Wallet website. Check the padlock (https) too.")],
                )
        look = any(
            w in host.replace(".", "").replace("-", "") for w in (b.replace("-", "") for b in BRAND_WORDS)
        )
        return Verdict(
            kind,
            host,
            False,
            lookalike=look,
            advice=[
                _(
                    "This website imitates OK Wallet but is not ours. Don't enter passwords, codes or card numbers."
                )
                if look
                else _("This website is not OK Wallet's. Only log in at our official site or in the app."),
                *general,
            ],
        )
    return Verdict(
        "unknown",
        text,
        False,
        advice=[_("Enter a phone number, a website address or an email address."), *general],
    )
