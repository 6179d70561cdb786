from __future__ import annotations

from okwallet.core.timeutil import now_utc
from okwallet.ops.models import Heartbeat


def heartbeat_record(*, name: str, details: dict | None = None) -> Heartbeat:
    """Upserts the heartbeat ``name`` at the current time (one row per name)."""
    beat, _created = Heartbeat.objects.update_or_create(
        name=name, defaults={"at": now_utc(), "details": details or {}}
    )
    return beat
