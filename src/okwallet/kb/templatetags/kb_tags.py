from django import template

from okwallet.core.money import format_fen

register = template.Library()


@register.filter
def kb_fen(value):
    """Fen → ¥1,234.50 (empty for anything that is not an integer amount)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return ""
    return format_fen(value)


@register.filter
def kb_mask_phone(value):
    """+8613800000001 → 138****0001 (the customer's own page still never shows it whole)."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) < 7:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


@register.filter
def kb_mask_digits(value):
    """Hide long digit runs (phone, card, ID numbers) a customer may have typed into a comment."""
    import re

    return re.sub(r"\d[\d\s-]{5,}\d", lambda m: m.group(0)[:2] + "****" + m.group(0)[-2:], str(value or ""))
