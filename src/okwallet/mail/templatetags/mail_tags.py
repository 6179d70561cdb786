from django import template

register = template.Library()


@register.filter
def mask_email(value: str) -> str:
    """``carol@example.com`` -> ``c***l@example.com`` for lists in the console."""
    value = (value or "").strip()
    if "@" not in value:
        return value[:1] + "***" if value else ""
    local, domain = value.rsplit("@", 1)
    if len(local) <= 2:
        masked = local[:1] + "***"
    else:
        masked = f"{local[0]}***{local[-1]}"
    return f"{masked}@{domain}"
