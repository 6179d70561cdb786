"""Demo data: queues with members, macros, SLA policies, tickets in every queue, a complaint close
to its first-contact deadline and four weeks of history for the dashboard (idempotent)."""

from __future__ import annotations

import random
from datetime import timedelta

MACROS = [
    (
        "问候 / Greeting",
        "{customer_name}您好，我是{agent_name}，您的工单 {ticket_number} 已收到，我们会在 {reply_deadline} 前答复您。",
        "",
    ),
    (
        "充值查询中",
        "{customer_name}您好，我们已向支付渠道发起查询，结果出来后会第一时间通知您（工单 {ticket_number}）。",
        "deposit",
    ),
    ("请提供交易号", "您好，为了尽快为您核实，请提供交易详情页中的交易号和截图。", ""),
    ("已解决 / Solved", "问题已处理完毕。如仍有疑问，直接回复本工单即可，我们会继续跟进。", ""),
]

SAMPLES = [
    ("deposit", "银行卡充值200元未到账", "今天上午用招商银行卡充值200元，银行已扣款但钱包余额没有变化。"),
    ("withdrawal", "提现到银行卡一直处理中", "昨天晚上提现500元，到现在还显示处理中。"),
    ("transfer", "转账给朋友对方没收到", "I sent 100 yuan to my friend but he says nothing arrived."),
    ("security", "收到陌生登录提醒", "凌晨收到异地登录短信，不是我本人操作，请帮忙冻结账户。"),
    ("password", "忘记支付密码", "换了手机号，收不到验证码，无法重置支付密码。"),
    ("account_closure", "申请注销账户", "不再使用了，想注销账户，余额已经提现。"),
    ("other", "发票怎么开", "How do I get an invoice for the service fee?"),
]


def seed(*, stdout) -> None:
    from okwallet.accounts.models import User
    from okwallet.core.timeutil import now_utc
    from okwallet.helpdesk.models import Macro, SlaPolicy, Ticket, TicketEvent
    from okwallet.helpdesk.services import presence_set, queues_ensure, ticket_add_message, ticket_create

    queues = queues_ensure()
    staff = {
        u.username: u
        for u in User.objects.filter(username__in=["agent1", "agent2", "manager1", "supervisor1"])
    }
    for name in ("agent1", "agent2"):
        if name in staff:
            for code in ("payments", "account", "general", "security"):
                queues[code].members.add(staff[name])
            presence_set(user=staff[name], status="online")
    if "manager1" in staff:
        queues["complaints"].members.add(staff["manager1"])
        presence_set(user=staff["manager1"], status="online")
    for title, body, category in MACROS:
        Macro.objects.get_or_create(title=title, defaults={"body": body, "category": category})
    SlaPolicy.objects.get_or_create(
        category="security",
        priority=None,
        defaults={"first_response_minutes": 30, "next_response_minutes": 60, "resolution_minutes": 480},
    )
    if Ticket.objects.filter(source_ref__startswith="demo:").exists():
        stdout.write("helpdesk: demo tickets already there\n")
        return
    customers = list(User.objects.filter(is_staff=False, phone__startswith="+86138001380").order_by("phone"))
    if not customers:
        stdout.write("helpdesk: no demo customers, skipped tickets\n")
        return
    rng = random.Random(2026)
    for i, (category, subject, body) in enumerate(SAMPLES):
        t = ticket_create(
            channel=rng.choice(["web", "email", "chat", "phone", "api"]),
            category=category,
            subject=subject,
            body=body,
            customer=customers[i % len(customers)],
            source_ref=f"demo:{i}",
        )
        if i % 3 == 0 and t.assignee_id:
            ticket_add_message(ticket=t, body="您好，已收到，正在为您核实。", author=t.assignee)
    ticket_create(
        channel="email",
        category="other",
        subject="Question about fees",
        body="Hi, what are the fees?",
        requester_email="visitor@example.com",
        requester_name="Visitor",
        source_ref="demo:guest",
    )
    complaint = ticket_create(
        channel="web",
        category="complaint",
        subject="提现三天未到账，客服没有回复",
        body="我三天前提现1000元至今未到账，多次联系客服都没有结果，要求尽快处理并给出说明。",
        customer=customers[0],
        source_ref="demo:complaint",
    )
    # Near its first-contact deadline: filed almost one working day ago.
    now = now_utc()
    Ticket.objects.filter(pk=complaint.pk).update(complaint_first_contact_due=now + timedelta(hours=1))
    ticket_create(
        channel="web",
        category="suggestion",
        subject="希望支持夜间提现",
        body="建议夜间也能实时提现。",
        customer=customers[-1],
        source_ref="demo:suggestion",
    )
    # Four weeks of solved history so the dashboard and the quiet-hours advice have data.
    history = []
    for n in range(250):
        day = rng.randrange(1, 28)
        hour = rng.choices(
            range(24), weights=[1, 1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 9, 10, 12, 11, 10, 9, 7, 6, 5, 4, 3, 2]
        )[0]
        created = (now - timedelta(days=day)).replace(hour=hour % 24, minute=rng.randrange(60))
        category, subject, body = rng.choice(SAMPLES)
        t = ticket_create(
            channel=rng.choice(["web", "email", "chat", "phone"]),
            category=category,
            subject=subject,
            body=body,
            customer=rng.choice(customers),
            source_ref=f"demo:h{n}",
            auto_assign=False,
        )
        first = created + timedelta(minutes=rng.randrange(10, 400))
        solved = first + timedelta(hours=rng.randrange(1, 60))
        assignee = staff.get(rng.choice(["agent1", "agent2"]))
        Ticket.objects.filter(pk=t.pk).update(
            created_at=created,
            updated_at=solved,
            first_responded_at=first,
            first_response_due=created + timedelta(hours=4),
            resolution_due=created + timedelta(days=3),
            solved_at=solved,
            status="closed",
            closed_at=solved,
            assignee=assignee,
        )
        history.append(t.pk)
    TicketEvent.objects.filter(ticket_id__in=history).update(created_at=now - timedelta(days=28))
    try:
        from okwallet.helpdesk.models import CsatResponse

        for pk in history[::4]:
            CsatResponse.objects.get_or_create(
                ticket_id=pk, defaults={"score": rng.choice([5, 5, 4, 4, 3, 2, 5, 1])}
            )
    except Exception as exc:  # demo data must never stop the other apps' seeding
        stdout.write(f"helpdesk: CSAT demo skipped ({exc})\n")
    stdout.write(f"helpdesk: {Ticket.objects.count()} demo tickets\n")
