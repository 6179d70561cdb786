from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language

from okwallet.contact.selectors import contact_channels


def contact(request):
    """Every page gets the contact channels for the footer (read on first use)."""
    return {"contact_channels": SimpleLazyObject(lambda: contact_channels(lang=get_language() or "zh-hans"))}
