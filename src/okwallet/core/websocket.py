"""WebSocket authentication: who is on the socket, resolved once when it connects.

Replaces Channels' ``AuthMiddlewareStack`` (cookie → session → lazy user, three scope copies,
a session store and a lazy user object kept for the life of every socket). Here one database
hop at connect time reads the Django session named by the session cookie and, on the routes
that accept it (the chat customer socket), the mobile app's API token
(``okwallet.chat.auth.token_from_scope``); the scope then carries a plain ``User`` or an
``AnonymousUser`` in ``scope["user"]``, ``scope["okw_token_auth"] = True`` when a token
authenticated it, and nothing else — no session object, no cookies dict.

The session check is Django's own (``django.contrib.auth.get_user``): the backend in the
session must be configured, the user active (the backend decides), and the session's auth hash
must match the user's (with ``SECRET_KEY_FALLBACKS``), so a password change logs sockets out
like pages. Read-only: a socket never writes the session (no key cycling, no flush; the next
page request does that). A session user wins over a token.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator


def _session_key(scope) -> str:
    from django.conf import settings
    from django.http.cookie import parse_cookie

    name = settings.SESSION_COOKIE_NAME.encode("latin-1")
    for header, value in scope.get("headers") or ():
        if header == b"cookie" and name in value:
            return parse_cookie(value.decode("latin-1")).get(settings.SESSION_COOKIE_NAME, "")
    return ""


def _session_user(session_key: str):
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
    from django.utils.crypto import constant_time_compare

    if not session_key or len(session_key) > 64:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = store[SESSION_KEY]
        backend_path = store[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if user is None:
        return None
    if hasattr(user, "get_session_auth_hash"):
        given = store.get(HASH_SESSION_KEY) or ""
        if not given:
            return None
        if not constant_time_compare(given, user.get_session_auth_hash()):
            # Sessions signed with a retired SECRET_KEY stay valid until the next page cycles them.
            fallbacks = getattr(user, "get_session_auth_fallback_hash", lambda: ())()
            if not any(constant_time_compare(given, h) for h in fallbacks):
                return None
    return user


def _may_authenticate(scope, *, tokens: bool) -> bool:
    """Whether the handshake carries anything to look up (cheap, in the event loop)."""
    if _session_key(scope):
        return True
    if not tokens:
        return False
    from okwallet.chat.auth import token_from_scope

    return bool(token_from_scope(scope))


@database_sync_to_async
def resolve_user(scope, *, tokens: bool):
    """(user or None, authenticated by token) for a connecting socket; one thread hop."""
    user = _session_user(_session_key(scope))
    if user is not None:
        return user, False
    if tokens:
        from okwallet.chat.auth import token_from_scope, user_for_token

        token = token_from_scope(scope)
        if token:
            user = user_for_token(token)
            if user is not None:
                return user, True
    return None, False


_ANONYMOUS = None


def _anonymous():
    """One shared ``AnonymousUser``: it has no state, so sockets need not hold one each."""
    global _ANONYMOUS
    if _ANONYMOUS is None:
        from django.contrib.auth.models import AnonymousUser

        _ANONYMOUS = AnonymousUser()
    return _ANONYMOUS


class SessionAuthMiddleware:
    """Sets ``scope["user"]`` from the session cookie (and an app token on ``token_paths``)."""

    def __init__(self, inner, *, token_paths=()):
        self.inner = inner
        self.token_paths = frozenset(token_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        tokens = scope.get("path") in self.token_paths
        if _may_authenticate(scope, tokens=tokens):
            user, by_token = await resolve_user(scope, tokens=tokens)
        else:  # nothing to look up (an anonymous visitor): no thread hop
            user, by_token = None, False
        if user is None:
            user = _anonymous()
        scope = {**scope, "user": user}
        if by_token:
            scope["okw_token_auth"] = True
        return await self.inner(scope, receive, send)


def websocket_stack(inner, *, token_paths=()):
    """The production WebSocket stack around a router: origin check, then who is connecting."""
    return AllowedHostsOriginValidator(SessionAuthMiddleware(inner, token_paths=token_paths))
