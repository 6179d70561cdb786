from django.shortcuts import render

from okwallet.console.access import staff_required
from okwallet.core.hooks import collect_flat


@staff_required
def home(request):
    # Apps contribute cards (my tickets, chats waiting, calls waiting, ...) via hooks.console_home_panels.
    panels = collect_flat("console_home_panels", request)
    return render(request, "console/home.html", {"panels": panels})
