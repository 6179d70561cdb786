"""Page hooks accounts implements (see okwallet.core.hooks)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _


def site_notices(request) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return []
    notices = []
    if user.status == "frozen":
        notices.append({"level": "error", "text": _("Your account is frozen. Unfreeze it under Security.")})
    elif user.status == "closing":
        notices.append(
            {"level": "warn", "text": _("Your account is being closed. You can cancel under Security.")}
        )
    if user.contact_bounced == "email":
        notices.append(
            {
                "level": "warn",
                "text": _("Emails to you bounced: please update your email address under Security."),
            }
        )
    elif user.contact_bounced == "sms":
        notices.append(
            {
                "level": "warn",
                "text": _(
                    "SMS to you could not be delivered: please update your mobile number under Security."
                ),
            }
        )
    return notices


def portal_home_panels(request) -> list[dict]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return []
    from okwallet.accounts.selectors import realname_for

    if realname_for(user) is not None:
        return []
    html = format_html(
        '<p>{}</p><p><a class="btn" href="{}">{}</a></p>',
        _("Complete real-name verification before money can leave your wallet."),
        reverse("accounts:realname"),
        _("Verify now"),
    )
    return [{"title": _("Real-name verification"), "html": html}]
