import pytest

from okwallet.core.audit import audit_log_write, audit_verify
from okwallet.core.models import AuditLogEntry


def test_audit_chain_verifies_when_untouched(db, agent, alice):
    for i in range(5):
        audit_log_write(
            actor=agent, action="customer.reveal_phone", obj=alice, details={"i": i}, ip="10.0.0.1"
        )
    assert audit_verify() == []
    entry = AuditLogEntry.objects.order_by("id").first()
    assert (
        entry.actor_label == "zhou"
        and entry.object_type == "accounts.user"
        and entry.object_id == str(alice.pk)
    )


def test_changed_entry_breaks_the_chain(db, agent, alice):
    for i in range(3):
        audit_log_write(actor=agent, action="ticket.reply", obj=alice, details={"i": i})
    middle = AuditLogEntry.objects.order_by("id")[1]
    AuditLogEntry.objects.filter(pk=middle.pk).update(action="ticket.delete")
    problems = audit_verify()
    assert any(f"entry {middle.pk}" in p and "changed" in p for p in problems)


def test_removed_entry_breaks_the_chain(db, agent, alice):
    for i in range(3):
        audit_log_write(actor=agent, action="ticket.reply", obj=alice, details={"i": i})
    middle = AuditLogEntry.objects.order_by("id")[1]
    AuditLogEntry.objects.filter(pk=middle.pk)._raw_delete(AuditLogEntry.objects.db)
    assert any("previous hash" in p for p in audit_verify())


def test_entries_cannot_be_edited_or_deleted_through_the_model(db, agent):
    entry = audit_log_write(actor=agent, action="x")
    entry.action = "y"
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()


def test_audit_verify_command_exits_non_zero_on_a_tampered_chain(db, agent):
    from django.core.management import call_command

    from okwallet.core.models import AuditLogEntry

    audit_log_write(actor=agent, action="ticket.reply", object_type="helpdesk.ticket", object_id="1")
    audit_log_write(actor=agent, action="customer.reveal_phone", object_type="accounts.user", object_id="2")
    call_command("audit_verify")  # intact: returns normally
    AuditLogEntry.objects.filter(action="ticket.reply").update(action="ticket.note")
    with pytest.raises(SystemExit) as exited:
        call_command("audit_verify")
    assert exited.value.code == 1
