from __future__ import annotations

import hmac
import os

from okwallet.accounts.roles import ADMIN, SUPERVISOR, has_role


def is_supervisor(user) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and user.is_staff and has_role(user, SUPERVISOR, ADMIN)
    )


def metrics_token_ok(request) -> bool | None:
    """True for the right bearer token, False for a wrong one, None when none was sent (or none is set)."""
    expected = os.environ.get("OKWALLET_METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    if not expected:
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())
