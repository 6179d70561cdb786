"""One error type for the whole product.

Every domain raises ``OkError`` (or a subclass) with a stable string code, a
translatable message, optional details and an HTTP status. The API turns it into
``{"code", "message", "details"}``; pages turn it into a friendly message.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class OkError(Exception):
    code: str = "error"
    message: Any = _("Something went wrong. Please try again.")
    http_status: int = 400

    def __init__(
        self,
        code: str | None = None,
        message: Any = None,
        *,
        details: dict | None = None,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if message is not None:
            self.message = message
        if http_status is not None:
            self.http_status = http_status
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.message}")

    def as_dict(self) -> dict:
        return {"code": self.code, "message": str(self.message), "details": _jsonable(self.details)}


class NotFound(OkError):
    code = "not_found"
    message = _("The requested item was not found.")
    http_status = 404


class PermissionDenied(OkError):
    code = "permission_denied"
    message = _("You do not have permission to do this.")
    http_status = 403


class NotAuthenticated(OkError):
    code = "not_authenticated"
    message = _("Please log in first.")
    http_status = 401


class InvalidInput(OkError):
    code = "invalid_input"
    message = _("Some of the information you entered is not valid.")
    http_status = 422


class RateLimited(OkError):
    code = "rate_limited"
    message = _("Too many attempts. Please wait a moment and try again.")
    http_status = 429

    def __init__(self, retry_after: int, **kwargs) -> None:
        retry_after = max(1, int(retry_after))
        details = {"retry_after_seconds": retry_after, **kwargs.pop("details", {})}
        super().__init__(details=details, headers={"Retry-After": str(retry_after)}, **kwargs)


class ServiceUnavailable(OkError):
    """Temporarily unable to serve: the database is out of reach (no pooled connection free within
    the pool's timeout under overload, a failover in progress). The client should try again."""

    code = "unavailable"
    message = _("The service is busy right now. Please try again in a moment.")
    http_status = 503

    def __init__(self, retry_after: int = 5, **kwargs) -> None:
        super().__init__(headers={"Retry-After": str(max(1, int(retry_after)))}, **kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
