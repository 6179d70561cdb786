from django.shortcuts import render

from okwallet.core.hooks import collect_flat


def home(request):
    # Apps contribute cards (wallet balance, open tickets, ...) via hooks.portal_home_panels.
    panels = collect_flat("portal_home_panels", request)
    return render(request, "portal/home.html", {"panels": panels})
