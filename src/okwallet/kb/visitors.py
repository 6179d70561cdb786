"""Who is visiting the help centre: the customer's account, else a first-party cookie."""

from __future__ import annotations

import secrets

COOKIE = "okw_kbv"
COOKIE_AGE = 365 * 24 * 3600


def visitor_id(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and not user.is_staff:
        return f"u:{user.pk}"
    token = getattr(request, "_kb_visitor", None) or request.COOKIES.get(COOKIE, "")
    if not token or len(token) > 40 or not token.replace("-", "").replace("_", "").isalnum():
        token = secrets.token_urlsafe(16)
        request._kb_visitor_new = True
    request._kb_visitor = token
    return f"c:{token}"


def remember(request, response):
    """Set the cookie when this request made a new anonymous visitor id."""
    if getattr(request, "_kb_visitor_new", False):
        response.set_cookie(
            COOKIE,
            request._kb_visitor,
            max_age=COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure(),
        )
    return response
