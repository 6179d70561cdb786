from django import template

from okwallet.core.money import format_fen

register = template.Library()


@register.filter
def fen(value):
    try:
        return format_fen(int(value))
    except (TypeError, ValueError):
        return ""


@register.filter
def signed_fen(txn):
    return ("-" if txn.is_outgoing else "+") + format_fen(txn.amount_fen)


_STATUS_CLASS = {
    "succeeded": "open",
    "completed": "open",
    "resolved": "closed",
    "reversed": "closed",
    "pending": "warn",
    "pending_approval": "warn",
    "open": "warn",
    "failed": "bad",
    "rejected": "bad",
}


@register.filter
def status_class(value) -> str:
    """The console's badge colour for a transaction, reversal or reconciliation status."""
    return _STATUS_CLASS.get(str(value), "closed")


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag(takes_context=True)
def page_query(context, param: str, number) -> str:
    """``?…`` of the current query with ``param`` set to ``number`` (the other filters kept)."""
    query = context["request"].GET.copy()
    query[param] = str(number)
    return "?" + query.urlencode()
