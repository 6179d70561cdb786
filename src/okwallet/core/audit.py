"""The audit log service: write entries, verify the chain."""

from __future__ import annotations

import hashlib
import json

from django.db import transaction

from okwallet.core.models import AuditChainHead, AuditLogEntry


def _entry_digest(
    prev_hash: str,
    *,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    ip: str | None,
    details: dict,
    created_at_iso: str,
) -> str:
    payload = json.dumps(
        [prev_hash, actor_label, action, object_type, object_id, ip or "", details, created_at_iso],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_log_write(
    *,
    actor=None,
    action: str,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    request=None,
    ip: str | None = None,
    details: dict | None = None,
) -> AuditLogEntry:
    """Append one entry. Locks the chain head row so concurrent writers form one chain."""
    from django.utils import timezone

    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    actor_label = ""
    if actor is not None:
        actor_label = getattr(actor, "audit_label", None) or actor.get_username()
    details = json.loads(json.dumps(details or {}, default=str))
    ip = ip or client_ip(request)
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        created_at = timezone.now()
        digest = _entry_digest(
            head.last_hash,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            ip=ip,
            details=details,
            created_at_iso=created_at.isoformat(),
        )
        entry = AuditLogEntry(
            actor=actor,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            ip=ip,
            details=details,
            prev_hash=head.last_hash,
            entry_hash=digest,
        )
        entry.save()
        # auto_now_add replaced created_at; store the hashed moment exactly.
        AuditLogEntry.objects.filter(pk=entry.pk).update(created_at=created_at)
        head.last_hash = digest
        head.save(update_fields=["last_hash"])
    return entry


def audit_verify() -> list[str]:
    """Walk the chain in order; return a list of problems (empty when intact)."""
    problems: list[str] = []
    prev = "0" * 64
    for entry in AuditLogEntry.objects.order_by("id").iterator():
        if entry.prev_hash != prev:
            problems.append(
                f"entry {entry.pk}: previous hash does not match (a row was removed or reordered)"
            )
        expected = _entry_digest(
            entry.prev_hash,
            actor_label=entry.actor_label,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            ip=entry.ip,
            details=entry.details,
            created_at_iso=entry.created_at.isoformat(),
        )
        if expected != entry.entry_hash:
            problems.append(f"entry {entry.pk}: content does not match its hash (the row was changed)")
        prev = entry.entry_hash
    head = AuditChainHead.objects.filter(pk=1).first()
    if head and head.last_hash != prev:
        problems.append("the chain head does not point at the last entry (entries were removed at the end)")
    return problems
