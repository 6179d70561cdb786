"""What the hotline consumes from the apps below it (docs/interfaces.md), each guarded.

The providers are being written at the same time as the hotline; until one lands these
functions degrade to a safe behaviour instead of crashing a live call.
"""

from __future__ import annotations

import logging
from importlib import import_module
from importlib.util import find_spec

log = logging.getLogger(__name__)


def _get(module: str, name: str):
    try:
        if find_spec(module) is None:
            return None
        return getattr(import_module(module), name, None)
    except ImportError:
        return None


def customer_by_phone(phone: str):
    func = _get("okwallet.accounts.selectors", "customer_by_phone")
    if func is not None:
        return func(phone)
    from okwallet.accounts.models import User
    from okwallet.accounts.phone import normalise_phone_or_none

    e164 = normalise_phone_or_none(phone or "")
    if e164 is None:
        return None
    return User.objects.filter(phone=e164, is_staff=False).first()


def customer_by_public_id(public_id: str):
    func = _get("okwallet.accounts.selectors", "customer_by_public_id")
    if func is not None:
        return func(public_id)
    from okwallet.accounts.models import User

    if not public_id or not public_id.isdigit():
        return None
    return User.objects.filter(public_id=public_id, is_staff=False).first()


def customer_age(user) -> int | None:
    func = _get("okwallet.accounts.selectors", "customer_age")
    if func is None or user is None:
        return None
    return func(user)


def id_last4_of(user) -> str | None:
    func = _get("okwallet.accounts.selectors", "realname_for")
    if func is None or user is None:
        return None
    realname = func(user)
    last4 = getattr(realname, "id_last4", None) if realname is not None else None
    return str(last4).upper() if last4 else None


def caller_verify(*, public_id: str, id_last4: str):
    """The customer whose user ID and ID-number digits match (enough to freeze), else None."""
    func = _get("okwallet.accounts.services", "hotline_caller_verify")
    if func is not None:
        return func(public_id=public_id, id_last4=id_last4)
    import hmac

    user = customer_by_public_id(public_id)
    expected = id_last4_of(user) if user is not None else None
    if expected and len(id_last4) == 4 and hmac.compare_digest(expected, id_last4.upper()):
        return user
    return None


def account_freeze(*, user, reason: str) -> None:
    """Freeze through the accounts service (idempotent, audited, notifies the customer).

    Until it lands the status field documented in docs/interfaces.md is set here and audited,
    so a caller who lost their phone is protected at once either way.
    """
    func = _get("okwallet.accounts.services", "account_freeze")
    if func is not None:
        func(user=user, actor=None, reason=reason, channel="hotline")
        return
    from okwallet.core.audit import audit_log_write

    if user.status != "frozen":
        type(user).objects.filter(pk=user.pk).update(status="frozen")
        user.status = "frozen"
        audit_log_write(
            actor=None, action="account.freeze", obj=user, details={"channel": "hotline", "reason": reason}
        )
        from okwallet.core.notify import notification_send

        notification_send(
            channel="sms",
            kind="account_frozen",
            user=user,
            body="【OK钱包】您的账户已通过客服热线冻结，付款、转账和提现已停止。解冻需完成身份核验。",
        )


def hotline_status(*, at=None):
    from okwallet.hours.selectors import channel_status

    return channel_status("hotline", at=at)


def hotline_numbers() -> list[str]:
    from okwallet.contact.selectors import hotline_numbers as numbers

    return numbers()


def transaction_by_reference(reference: str):
    func = _get("okwallet.payments.selectors", "transaction_by_reference")
    if func is None or not reference:
        return None
    try:
        return func(reference)
    except Exception:  # a lookup failure must not drop the call
        log.exception("transaction_by_reference failed")
        return None


def agents_available(queue_code: str | None = None) -> list | None:
    """Agents helpdesk reports online for ``queue_code``; None while helpdesk has no presence yet."""
    func = _get("okwallet.helpdesk.selectors", "agents_available")
    if func is None:
        return None
    try:
        return list(func(queue_code))
    except Exception:
        log.exception("agents_available failed")
        return None


def ticket_create(**kwargs):
    """Create (idempotently, by ``source_ref``) a helpdesk ticket; None until helpdesk lands."""
    func = _get("okwallet.helpdesk.services", "ticket_create")
    if func is None:
        return None
    return func(**kwargs)


def ticket_add_message(**kwargs):
    func = _get("okwallet.helpdesk.services", "ticket_add_message")
    if func is None:
        return None
    return func(**kwargs)


def ticket_by_number(number: str):
    func = _get("okwallet.helpdesk.selectors", "ticket_by_number")
    if func is None or not number:
        return None
    return func(number)


def customer_360_html(user, *, viewer, request=None) -> str:
    """The helpdesk's customer 360 partial, rendered; '' while it does not exist."""
    if user is None:
        return ""
    func = _get("okwallet.helpdesk.selectors", "customer_360")
    if func is None:
        return ""
    from django.template import TemplateDoesNotExist
    from django.template.loader import render_to_string
    from django.urls import NoReverseMatch, reverse

    try:
        context = {"c360": func(user, viewer=viewer)}
        try:
            context["reveal_url"] = reverse("helpdesk:customer_reveal", args=[user.public_id])
        except NoReverseMatch:
            pass
        return render_to_string("helpdesk/_customer_360.html", context, request=request)
    except TemplateDoesNotExist:
        return ""
    except Exception:
        log.exception("customer 360 failed")
        return ""


def queueing():
    """The shared Erlang C estimator (okwallet.core.queueing)."""
    from okwallet.core import queueing as module

    return module


def is_security_line(number: str) -> bool:
    """Is ``number`` (the dialled number) the 24/7 account security line of the contact source?

    Read from the contact source's cached channel rows: no query per incoming call.
    """
    import re

    from okwallet.contact.models import ContactChannel
    from okwallet.contact.selectors import channel_values

    def digits(text: str) -> str:
        d = re.sub(r"\D", "", text or "")
        return d[2:] if d.startswith("86") and len(d) > 10 else d

    dialled = digits(number)
    if not dialled:
        return False
    return any(dialled == digits(v) for v in channel_values(ContactChannel.Kind.SECURITY))
