"""Facts that articles quote from the product's own sources (hotline numbers, email address,
reply promise), so an article never disagrees with the contact page. Articles write
``{hotline}``, ``{security_line}``, ``{email}``, ``{email_days}``; nothing else is substituted
(article text is never treated as a template)."""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{(hotline|security_line|email|email_days)\}")


def contact_facts() -> dict[str, str]:
    from okwallet.contact.defaults import CHANNELS

    facts = {
        "hotline": next((c["value"] for c in CHANNELS if c["kind"] == "hotline"), ""),
        "security_line": next((c["value"] for c in CHANNELS if c["kind"] == "security"), ""),
        "email": next((c["value"] for c in CHANNELS if c["kind"] == "email"), ""),
        "email_days": str(
            next((c.get("reply_promise_working_days") or 2 for c in CHANNELS if c["kind"] == "email"), 2)
        ),
    }
    try:
        from okwallet.contact.selectors import contact_channels

        for c in contact_channels():
            if c.kind == "hotline" and c.value:
                facts["hotline"] = c.value
            elif c.kind == "security" and c.value:
                facts["security_line"] = c.value
            elif c.kind == "email" and c.value:
                facts["email"] = c.value
                if c.reply_promise_working_days:
                    facts["email_days"] = str(c.reply_promise_working_days)
    except Exception:  # noqa: S110 - the defaults above are the documented fallback
        pass
    return facts


def fill_facts(text: str, lang: str = "zh-hans", facts: dict | None = None) -> str:
    if not text or "{" not in text:
        return text or ""
    facts = facts if facts is not None else contact_facts()
    return _PLACEHOLDER.sub(lambda m: facts.get(m.group(1), m.group(0)), text)
