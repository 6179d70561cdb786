"""Which queue a chat waits in: the topic the customer chose, else the one the assistant read
from what they wrote, else general.

Chat's queues are the helpdesk's routing queues (``helpdesk.services.CATEGORY_QUEUE``): a chat's
``topic`` is a helpdesk category (the transcript ticket is filed under it) and its ``queue`` is
the queue that category routes to, so an agent's chat skills are their helpdesk queues. The
customer's picker offers one choice per queue; choosing a queue keeps a more precise topic the
assistant already detected in it (a withdrawal stays a withdrawal under "deposits and
withdrawals").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from okwallet.chat.models import Topic

# Used only while helpdesk is not installed; otherwise helpdesk's own table decides.
FALLBACK_TOPIC_QUEUE = {
    Topic.DEPOSIT: "payments",
    Topic.WITHDRAWAL: "payments",
    Topic.TRANSFER: "payments",
    Topic.SECURITY: "security",
    Topic.PASSWORD: "security",
    Topic.ACCOUNT_CLOSURE: "account",
    Topic.COMPLAINT: "complaints",
    Topic.GENERAL: "general",
}
GENERAL_QUEUE = "general"


@dataclass(frozen=True)
class Choice:
    """One button of the customer's topic picker: a queue and the topic it files under."""

    queue: str
    topic: str
    label: object  # lazy translation


# The picker, in the order shown (one per helpdesk queue).
CHOICES = (
    Choice("payments", Topic.DEPOSIT, _("Deposits and withdrawals")),
    Choice("security", Topic.SECURITY, _("Password and security")),
    Choice("complaints", Topic.COMPLAINT, _("Complaints")),
    Choice("account", Topic.ACCOUNT_CLOSURE, _("Closing my account")),
    Choice("general", Topic.GENERAL, _("Something else")),
)
QUEUE_CODES = tuple(c.queue for c in CHOICES)


def queue_for(topic: str) -> str:
    """The helpdesk queue a topic (category) routes to."""
    from okwallet.chat import integrations

    table = integrations.category_queues() or FALLBACK_TOPIC_QUEUE
    return str(table.get(topic, GENERAL_QUEUE))


def choices() -> list[dict]:
    """The picker as frames and templates use it: ``[{"code", "topic", "label"}]``."""
    return [{"code": c.queue, "topic": str(c.topic), "label": str(c.label)} for c in CHOICES]


def queue_label(queue: str) -> str:
    """What the customer's picker calls the queue."""
    for c in CHOICES:
        if c.queue == queue:
            return str(c.label)
    return str(queue)


def queue_name(queue: str) -> str:
    """The helpdesk's name of the queue, in the current language (for the console)."""
    from django.utils.translation import get_language

    from okwallet.chat import integrations

    names = (integrations.queue_names() or {}).get(queue)
    if names is None:
        return queue_label(queue)
    return names[1] if (get_language() or "").startswith("en") else names[0]


def resolve(value: str, *, current_topic: str = "") -> tuple[str, str] | None:
    """A picker code (queue) or a topic code → ``(topic, queue)``; None when it is neither.

    A queue keeps ``current_topic`` when that topic already belongs to it."""
    value = (value or "").strip()
    if value in Topic.values:
        return value, queue_for(value)
    for c in CHOICES:
        if c.queue == value:
            if current_topic and current_topic in Topic.values and queue_for(current_topic) == value:
                return current_topic, value
            return str(c.topic), value
    return None


# Checked in this order: the first rule that matches wins (a scam about a deposit is security).
_RULES: tuple[tuple[str, re.Pattern], ...] = (
    (Topic.COMPLAINT, re.compile(r"投诉|举报|complain|complaint", re.I)),
    (
        Topic.SECURITY,
        re.compile(
            r"被盗|盗刷|被骗|诈骗|骗子|冻结|异地登录|陌生登录|不是我本人|fraud|scam|stolen|hack|unauthori[sz]ed|freeze",
            re.I,
        ),
    ),
    (Topic.ACCOUNT_CLOSURE, re.compile(r"注销|销户|\b(close|delete|cancel) (my )?account\b", re.I)),
    (Topic.WITHDRAWAL, re.compile(r"提现|取现|提款|withdraw", re.I)),
    (Topic.DEPOSIT, re.compile(r"充值|充钱|入账|没到账|未到账|deposit|top[ -]?up|recharge", re.I)),
    (Topic.TRANSFER, re.compile(r"转账|汇款|收款|\btransfer", re.I)),
    (
        Topic.PASSWORD,
        re.compile(r"密码|登录不了|登不上|无法登录|验证码|password|\bpin\b|log ?in|sign ?in|2fa", re.I),
    ),
)


def detect(text: str) -> str | None:
    """The topic a customer's message is about, by keywords; None when nothing matches."""
    if not isinstance(text, str) or not text:
        return None
    sample = text[:2000]
    for topic, pattern in _RULES:
        if pattern.search(sample):
            return str(topic)
    return None
