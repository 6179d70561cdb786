"""API authentication: the web's session (with CSRF on writes) or the app's bearer token."""

from __future__ import annotations

from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from okwallet.accounts.models import ApiToken


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request, token: str):
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
        request.user = row.user
        request.api_token = row
        return row.user


session_auth = SessionAuth()
token_auth = TokenAuth()
DEFAULT_AUTH = [token_auth, session_auth]
