"""Retention: raw emails and voicemail recordings past their retention lose their content, logged."""

from datetime import timedelta

from okwallet.core.models import AuditLogEntry
from okwallet.core.timeutil import now_utc
from okwallet.ops.retention import retention_purge


def _raw(key: str, received_at):
    from okwallet.mail.models import RawMessage

    return RawMessage.objects.create(
        idempotency_key=key,
        sha256="0" * 64,
        raw=b"From: a@example.com\r\n\r\nhi",
        size=27,
        source="smtp",
        received_at=received_at,
    )


def _voicemail(sid: str, created_at):
    from okwallet.voice.models import Call, Voicemail

    call = Call.objects.create(
        call_sid=f"CA{sid}", from_number="+8613800000001", to_number="+864008206655", started_at=created_at
    )
    return Voicemail.objects.create(
        call=call, recording_sid=sid, recording_url=f"https://recordings.example/{sid}", created_at=created_at
    )


def test_old_raw_emails_and_recordings_are_blanked_and_recent_ones_kept(db):
    now = now_utc()
    old_mail, new_mail = (
        _raw("mid:old", now - timedelta(days=1200)),
        _raw("mid:new", now - timedelta(days=10)),
    )
    old_vm, new_vm = (
        _voicemail("RE1", now - timedelta(days=1200)),
        _voicemail("RE2", now - timedelta(days=10)),
    )
    assert retention_purge(now=now) == {"raw_emails_blanked": 1, "recordings_dropped": 1}
    old_mail.refresh_from_db(), new_mail.refresh_from_db(), old_vm.refresh_from_db(), new_vm.refresh_from_db()
    assert bytes(old_mail.raw) == b"" and old_mail.size == 0 and old_mail.idempotency_key == "mid:old"
    assert bytes(new_mail.raw).startswith(b"From:")
    assert old_vm.recording_url == "" and new_vm.recording_url.endswith("RE2")
    assert AuditLogEntry.objects.filter(action="retention.purge").count() == 1
    assert retention_purge(now=now) == {"raw_emails_blanked": 0, "recordings_dropped": 0}
