"""App versions: is this build still supported, is there a newer one?"""

from __future__ import annotations

import re

from okwallet.antifraud.models import AppRelease

DEFAULTS = {"min_supported": "3.0.0", "latest": "3.4.0"}


def version_tuple(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text or "")[:4]
    return tuple(int(p) for p in parts) or (0,)


def app_version_info(platform: str, current: str = "") -> dict:
    row = AppRelease.objects.filter(platform=platform).first()
    min_supported = row.min_supported if row else DEFAULTS["min_supported"]
    latest = row.latest if row else DEFAULTS["latest"]
    info = {
        "platform": platform,
        "min_supported": min_supported,
        "latest": latest,
        "download_url": row.download_url if row else "",
        "update_required": None,
        "update_available": None,
    }
    if current:
        now = version_tuple(current)
        info["update_required"] = now < version_tuple(min_supported)
        info["update_available"] = now < version_tuple(latest)
    return info


def payee_warning_context(name: str) -> dict:
    """For the new-payee warning: ``{% include "antifraud/_payee_warning.html" with masked_name=... %}``."""
    from okwallet.accounts.masking import mask_name

    return {"masked_name": mask_name(name)}
