"""Masking of personal data for display (console, notifications, payee warnings)."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """张三 → 张*, 张小三 → 张*三, 欧阳小明 → 欧**明; Latin names keep the first letter."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_email(email: str) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return (local[:1] + "***" if local else "***") + "@" + domain
