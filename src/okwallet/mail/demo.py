"""Demo mail (idempotent by Message-ID): a new request, its reply, an auto-reply, a bounce and a
message held by the sender limit, so the console's email pages have something to show."""

from __future__ import annotations

from email.header import Header

DEMO = [
    (
        "王芳 <wang.fang@163.com>",
        "充值未到账",
        "我 12 月 1 日用招商银行卡充值 200 元，到现在还没到账。",
        "demo-1@163.com",
        "",
    ),
    (
        "王芳 <wang.fang@163.com>",
        "回复：充值未到账",
        "补充：交易号 T20261201001。\n\n在 2026年12月1日，OK钱包客服 写道：\n> 已收到",
        "demo-2@163.com",
        "demo-1@163.com",
    ),
    (
        "Alex Chen <alex.chen@gmail.com>",
        "Withdrawal failed",
        "My withdrawal to my bank card failed twice today.",
        "demo-3@gmail.com",
        "",
    ),
]


def _raw(sender: str, subject: str, body: str, mid: str, parent: str, extra: str = "") -> bytes:
    head = [
        f"From: {sender}",
        "To: support@okwallet.example",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Message-ID: <{mid}>",
        "Date: Tue, 01 Dec 2026 10:00:00 +0800",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    if parent:
        head += [f"In-Reply-To: <{parent}>", f"References: <{parent}>"]
    if extra:
        head.append(extra)
    return ("\r\n".join(head) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


def seed(*, stdout=None) -> None:
    from okwallet.mail.ingest import InboundItem, mail_ingest

    items = [InboundItem(raw=_raw(*row)) for row in DEMO]
    items.append(
        InboundItem(
            raw=_raw(
                "陈经理 <chen@corp.example.cn>",
                "自动回复: 充值未到账",
                "我正在休假，12 月 7 日回来。",
                "demo-4@corp.example.cn",
                "",
                "Auto-Submitted: auto-replied",
            )
        )
    )
    result = mail_ingest(items=items, source="upload", source_detail="demo")
    if stdout is not None:
        stdout.write(f"mail: {result.stored} demo emails ({result.duplicates} already there)\n")
