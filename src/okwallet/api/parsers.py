import json

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from ninja.parser import Parser

from okwallet.core.errors import OkError


class StrictJsonParser(Parser):
    """JSON bodies only, within the size limit; anything else is a clear 4xx."""

    def parse_body(self, request):
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise OkError(
                "payload_too_large",
                _("The request body is too large."),
                http_status=413,
                details={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
            )
        content_type = (request.content_type or "").lower()
        if content_type not in ("application/json", "") and not content_type.endswith("+json"):
            raise OkError(
                "unsupported_media_type",
                _("Send the request body as JSON (Content-Type: application/json)."),
                http_status=415,
                details={"content_type": content_type[:80]},
            )
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OkError(
                "malformed_json",
                _("The request body is not valid JSON."),
                http_status=400,
                details={"error": str(exc)[:200]},
            ) from exc
        if _has_nul(data):
            # No text we keep may hold NUL (PostgreSQL refuses it, and no person types it).
            raise OkError(
                "invalid_characters",
                _("The request contains characters that are not allowed."),
                http_status=400,
            )
        return data


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
