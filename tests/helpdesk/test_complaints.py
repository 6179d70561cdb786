from datetime import timedelta

import pytest

from okwallet.core.models import Notification
from okwallet.core.timeutil import SHANGHAI
from okwallet.helpdesk import errors
from okwallet.helpdesk.complaints import complaint_extend, complaint_file, complaint_record_outcome
from okwallet.helpdesk.escalation import sla_sweep
from okwallet.helpdesk.models import Status
from okwallet.helpdesk.services import ticket_add_message, ticket_set_status


@pytest.fixture
def complaint(alice, queues):
    return complaint_file(customer=alice, kind="complaint", subject="提现三天未到账", body="客服一直没有回复")


def test_complaint_goes_to_senior_managers_with_deadlines(complaint):
    assert complaint.queue.code == "complaints" and complaint.queue.restricted
    first = complaint.complaint_first_contact_due.astimezone(SHANGHAI)
    assert first.hour == 18
    outcome = complaint.complaint_outcome_due - complaint.created_at
    assert timedelta(days=14) < outcome <= timedelta(days=16)


def test_customer_is_told_both_deadlines(complaint, alice):
    notes = Notification.objects.filter(user=alice, kind="complaint_ack")
    assert {n.channel for n in notes} == {"inapp", "sms"}
    assert complaint.number in notes.first().body


def test_senior_manager_reply_is_the_first_contact(complaint, manager, agent):
    ticket_add_message(ticket=complaint, body="您好，我是陈经理", author=manager)
    complaint.refresh_from_db()
    assert complaint.complaint_first_contact_at is not None


def test_extension_is_allowed_once_and_notifies(complaint, manager, alice):
    before = complaint.complaint_outcome_due
    complaint_extend(ticket=complaint, actor=manager, reason="需要银行协查")
    complaint.refresh_from_db()
    assert complaint.complaint_outcome_due > before + timedelta(days=14)
    assert Notification.objects.filter(user=alice, kind="complaint_extended").exists()
    assert complaint.messages.filter(body__contains="需要银行协查", public=True).exists()
    with pytest.raises(errors.ComplaintAlreadyExtended):
        complaint_extend(ticket=complaint, actor=manager, reason="again")


def test_complaint_cannot_be_solved_without_an_outcome(complaint, manager):
    with pytest.raises(errors.InvalidTransition):
        ticket_set_status(ticket=complaint, status="solved", actor=manager)
    complaint_record_outcome(ticket=complaint, actor=manager, outcome="已退还手续费并致歉")
    complaint.refresh_from_db()
    assert complaint.status == Status.SOLVED and complaint.outcome.startswith("已退还")


def test_missed_first_contact_escalates_up_the_ladder(complaint, manager, supervisor):
    sla_sweep(at=complaint.complaint_first_contact_due + timedelta(minutes=1))
    complaint.refresh_from_db()
    assert "complaint_first_contact_due" in complaint.breach_kinds and complaint.escalation_level == 1
    sla_sweep(at=complaint.complaint_outcome_due + timedelta(minutes=1))
    complaint.refresh_from_db()
    assert complaint.escalation_level == 2
    assert Notification.objects.filter(user=supervisor, kind="sla_breach").exists()


def test_overdue_complaint_shows_red_on_dashboard(complaint, supervisor, client_for):
    from django.utils import timezone

    from okwallet.helpdesk.models import Ticket

    Ticket.objects.filter(pk=complaint.pk).update(
        complaint_first_contact_due=timezone.now() - timedelta(hours=1)
    )
    page = client_for(supervisor).get("/console/dashboard/").content.decode()
    assert complaint.number in page and "hd-due late" in page


def test_suggestion_is_tracked_and_answered(alice, manager, queues):
    s = complaint_file(customer=alice, kind="suggestion", subject="希望支持夜间提现", body="建议")
    assert s.complaint_outcome_due is None and s.queue.code == "complaints"
    complaint_record_outcome(ticket=s, actor=manager, outcome="感谢建议，已列入计划")
    s.refresh_from_db()
    assert s.status == Status.SOLVED


def test_invalid_kind_is_refused(alice, queues):
    with pytest.raises(errors.InvalidCategory):
        complaint_file(customer=alice, kind="deposit", subject="s", body="b")


def test_api_complaint_flow(alice, client_for, queues):
    r = client_for(alice).post(
        "/api/v1/complaints",
        {"kind": "complaint", "subject": "慢", "body": "太慢了"},
        content_type="application/json",
    )
    assert r.status_code == 201
    assert r.json()["complaint_outcome_due"] is not None
