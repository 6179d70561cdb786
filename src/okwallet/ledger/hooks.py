"""Hooks the ledger implements (docs/interfaces.md)."""

from __future__ import annotations


def metrics() -> list[tuple]:
    """Ledger transfers recorded so far, for /metrics (a counter that only grows)."""
    from okwallet.ledger.models import Transfer

    latest = Transfer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return [("okw_ledger_transfers", "Ledger transfers recorded (highest id).", "counter", {}, latest)]
