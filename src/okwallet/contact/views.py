from django.shortcuts import render
from django.utils.translation import get_language

from okwallet.contact.selectors import contact_channels


def contact_page(request):
    return render(
        request, "contact/contact.html", {"channels": contact_channels(lang=get_language() or "zh-hans")}
    )
