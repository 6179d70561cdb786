"""Accounts middleware: remember when and where each signed-in session was last active."""

from __future__ import annotations

from okwallet.accounts.sessions import session_activity_touch


class SessionActivityMiddleware:
    """After ``AuthenticationMiddleware``. Cheap: for most requests one cache ``add`` and no
    database write (see ``session_activity_touch``); requests without a session cookie cost nothing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session_activity_touch(request)
        return self.get_response(request)
