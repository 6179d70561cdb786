"""App token authentication for chat sockets.

The mobile app has no session cookie; it authenticates with its API token, either as a
WebSocket subprotocol ``okwallet.token.<token>`` (what a browser-based web view can set),
an ``Authorization: Bearer <token>`` header, or ``?token=`` in the query string (the last for
clients that can do neither; prefer the others, query strings end up in access logs). A
session user, if any, wins. Resolved once, when the socket connects, by
``okwallet.core.websocket.SessionAuthMiddleware`` on the paths in ``TOKEN_PATHS``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

TOKEN_PROTOCOL_PREFIX = "okwallet.token."
# The sockets that accept an app token (okwallet.core.websocket.SessionAuthMiddleware).
TOKEN_PATHS = ("/ws/chat/",)


def user_for_token(token: str):
    """The active user an unrevoked API token belongs to, or None (synchronous: ORM)."""
    from django.utils import timezone

    from okwallet.accounts.models import ApiToken

    if not token or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash_key(token), revoked_at__isnull=True)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


def token_from_scope(scope) -> str:
    for proto in scope.get("subprotocols") or []:
        if proto.startswith(TOKEN_PROTOCOL_PREFIX):
            return proto[len(TOKEN_PROTOCOL_PREFIX) :]
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    query = parse_qs(scope.get("query_string", b"").decode())
    return (query.get("token") or [""])[-1]
