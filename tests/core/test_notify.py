import json

import pytest
from django.core import mail
from django.test import override_settings

from okwallet.core.models import Notification
from okwallet.core.notify import notification_deliver, notification_send


def test_sms_is_sent_only_after_commit(db, alice, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.OKWALLET_SMS_FILE = tmp_path / "sms.jsonl"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        note = notification_send(
            channel="sms", kind="security.login_new_device", body="新设备登录提醒", user=alice
        )
        assert not (tmp_path / "sms.jsonl").exists()
    assert len(callbacks) == 1
    note.refresh_from_db()
    assert note.status == "sent" and note.attempts == 1 and note.to_address == "+8613800000001"
    line = json.loads((tmp_path / "sms.jsonl").read_text().strip())
    assert line["to"] == "+8613800000001" and line["body"] == "新设备登录提醒"


def test_rolled_back_change_sends_nothing(db, alice, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                notification_send(channel="email", kind="x", body="hi", user=alice, subject="s")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert callbacks == [] and not Notification.objects.exists() and mail.outbox == []


def test_email_goes_through_django_mail(db, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification_send(
            channel="email", kind="deposit.posted", body="充值成功 ¥100.00", user=alice, subject="充值到账"
        )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"] and mail.outbox[0].subject == "充值到账"
    assert mail.outbox[0].extra_headers["Auto-Submitted"] == "auto-generated"


class FlakySms:
    calls = 0

    def send(self, notification):
        FlakySms.calls += 1
        if FlakySms.calls < 3:
            raise ConnectionError("gateway down")
        return "gw-1"


@override_settings(
    OKWALLET_NOTIFY_BACKENDS={"sms": "tests.core.test_notify.FlakySms", "email": "x", "inapp": "x"}
)
def test_failed_delivery_is_recorded_and_retried_until_it_succeeds(db, alice):
    note = Notification.objects.create(channel="sms", kind="k", body="b", to_address="+8613800000001")
    for _ in range(2):
        with pytest.raises(ConnectionError):
            notification_deliver(note.pk)
        note.refresh_from_db()
        assert note.status == "queued" and "gateway down" in note.last_error
    notification_deliver(note.pk)
    note.refresh_from_db()
    assert note.status == "sent" and note.attempts == 3 and note.provider_id == "gw-1"
    notification_deliver(note.pk)  # delivering again does nothing
    assert FlakySms.calls == 3
