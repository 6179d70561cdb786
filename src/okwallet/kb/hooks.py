"""Hooks the help centre implements (docs/interfaces.md)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext as _


def _may_see_figures(viewer) -> bool:
    from okwallet.accounts.roles import ADMIN, SENIOR_MANAGER, SUPERVISOR, has_role

    return bool(
        getattr(viewer, "is_authenticated", False) and has_role(viewer, SUPERVISOR, SENIOR_MANAGER, ADMIN)
    )


def panel_context() -> dict:
    from okwallet.kb import selectors

    defl = selectors.deflection(days=7)
    return {
        "deflection": defl,
        "chart": {
            "labels": [d["day"].strftime("%m-%d") for d in defl["days"]],
            "visits": [d["visits"] for d in defl["days"]],
            "deflected": [d["deflected"] for d in defl["days"]],
            "visits_label": _("Visits"),
            "deflected_label": _("Self-served"),
        },
        "feedback": selectors.feedback_summary(days=30),
        "zero": selectors.zero_result_searches(days=30, limit=8),
        "flows": selectors.flow_outcomes(days=30),
    }


def dashboard_panels(viewer) -> list[dict]:
    """Supervisor dashboard: deflection, article feedback, searches that found nothing, flows."""
    if not _may_see_figures(viewer):
        return []
    html = render_to_string("kb/_dashboard_panel.html", panel_context())
    return [{"title": _("Help centre self-service"), "html": html}]  # render_to_string returns a SafeString
