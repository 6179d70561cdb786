"""Demo data: a small call log, a callback request and a voicemail (idempotent)."""

from __future__ import annotations

from datetime import timedelta


def seed(*, stdout) -> None:
    from okwallet.accounts.models import User
    from okwallet.core.timeutil import now_utc
    from okwallet.voice import services
    from okwallet.voice.models import Call, CallbackRequest, Voicemail

    if Call.objects.filter(call_sid__startswith="CAdemo").exists():
        stdout.write("voice: demo calls already there\n")
        return
    now = now_utc()
    xiaoming = User.objects.filter(phone="+8613800138001").first()
    lihua = User.objects.filter(phone="+8613800138002").first()
    agent = User.objects.filter(username="agent1").first()

    answered = Call.objects.create(
        call_sid="CAdemo0001",
        from_number="+8613800138001",
        to_number="+864008206655",
        customer=xiaoming,
        identified_by="caller_id" if xiaoming else "",
        status=Call.Status.ENDED,
        outcome=Call.Outcome.ANSWERED,
        topic=Call.Topic.DEPOSIT,
        queue="deposits",
        node="done",
        ivr_path=["greeting", "menu:1", "reference", "queue:deposits", "answered", "ended"],
        digits=[{"node": "main_menu", "digits": "1"}, {"node": "deposit_ref", "digits": "20261201003301#"}],
        reference="20261201003301",
        agent=agent,
        started_at=now - timedelta(hours=3),
        asked_person_at=now - timedelta(hours=3) + timedelta(seconds=40),
        queued_at=now - timedelta(hours=3) + timedelta(seconds=40),
        answered_at=now - timedelta(hours=3) + timedelta(seconds=52),
        ended_at=now - timedelta(hours=3) + timedelta(seconds=52 + 260),
        duration_s=312,
        wrapup_notes="客户反映银行卡充值 200 元未到账；已查询渠道，状态处理中。",
        wrapup_agreed="客服向支付渠道发起查询",
        wrapup_next_step="到账后短信通知；若 24 小时内未到账，将由专员回电。",
        wrapped_up_at=now - timedelta(hours=2, minutes=50),
    )
    abandoned = Call.objects.create(
        call_sid="CAdemo0002",
        from_number="+8613900001234",
        to_number="+864008206655",
        status=Call.Status.ENDED,
        outcome=Call.Outcome.ABANDONED_QUEUE,
        topic=Call.Topic.PERSON,
        queue="person",
        ivr_path=["greeting", "main_menu:0", "queue:person", "ended"],
        started_at=now - timedelta(hours=2),
        asked_person_at=now - timedelta(hours=2) + timedelta(seconds=15),
        queued_at=now - timedelta(hours=2) + timedelta(seconds=15),
        ended_at=now - timedelta(hours=2) + timedelta(seconds=95),
        duration_s=95,
    )
    callback_call = Call.objects.create(
        call_sid="CAdemo0003",
        from_number="+8613800138002",
        to_number="+864008206655",
        customer=lihua,
        identified_by="caller_id" if lihua else "",
        status=Call.Status.ENDED,
        outcome=Call.Outcome.CALLBACK,
        topic=Call.Topic.COMPLAINT,
        queue="complaints",
        ivr_path=["greeting", "menu:3", "queue:complaints", "callback", "ended"],
        started_at=now - timedelta(hours=1),
        asked_person_at=now - timedelta(hours=1) + timedelta(seconds=20),
        queued_at=now - timedelta(hours=1) + timedelta(seconds=20),
        ended_at=now - timedelta(hours=1) + timedelta(seconds=230),
        duration_s=230,
    )
    CallbackRequest.objects.create(
        call=callback_call,
        customer=lihua,
        phone=callback_call.from_number,
        topic="complaint",
        requested_at=callback_call.ended_at,
        next_attempt_at=callback_call.ended_at,
    )
    voicemail_call = Call.objects.create(
        call_sid="CAdemo0004",
        from_number="+8613700005678",
        to_number="+864008206655",
        status=Call.Status.ENDED,
        outcome=Call.Outcome.VOICEMAIL,
        ivr_path=["greeting", "closed", "closed:voicemail", "voicemail", "ended"],
        started_at=now - timedelta(hours=14),
        ended_at=now - timedelta(hours=14) + timedelta(seconds=75),
        duration_s=75,
    )
    voicemail = Voicemail.objects.create(
        call=voicemail_call,
        recording_sid="REdemo0004",
        recording_url="https://api.twilio.com/2010-04-01/Accounts/ACdemo/Recordings/REdemo0004",
        duration_s=41,
        created_at=voicemail_call.ended_at,
    )
    services.voicemail_ticket_ensure(voicemail=voicemail, call=voicemail_call)
    stdout.write(
        f"voice: demo call log ({answered.call_sid}, {abandoned.call_sid}, ...), a callback request and a voicemail\n"
    )
