"""Guarded calls into the apps below (payments, helpdesk, accounts, chat, voice).

The help centre must keep working while a provider is missing or failing: every function here
returns ``None`` (or an empty value) instead of raising when its provider is not there.
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
    except (ImportError, ValueError):
        return None


def transactions_for(user, *, kind: str, limit: int = 10) -> list | None:
    func = _get("okwallet.payments.selectors", "transactions_for")
    if func is None or user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return [t for t in func(user, limit=50) if getattr(t, "kind", "") == kind][:limit]
    except Exception:
        log.exception("payments.transactions_for failed")
        return None


def access_transaction(user, reference: str):
    func = _get("okwallet.payments.selectors", "access_transaction")
    if func is None:
        rows = transactions_for(user, kind="deposit", limit=50) or []
        rows += transactions_for(user, kind="withdrawal", limit=50) or []
        return next((t for t in rows if t.reference == reference), None)
    try:
        return func(user, reference)
    except Exception:
        return None


def deposit_self_check(*, user, reference: str | None, reported: dict):
    func = _get("okwallet.payments.self_check", "deposit_self_check")
    if func is None:
        return None
    return func(user=user, reference=reference or None, reported=reported)


def deposits_slow_now() -> dict | None:
    func = _get("okwallet.payments.selectors", "deposits_slow_now")
    if func is None:
        return None
    try:
        return func()
    except Exception:
        log.exception("payments.deposits_slow_now failed")
        return None


def assert_can_move_money(*, user, outgoing: bool) -> list[dict]:
    """Findings from the accounts money gate (frozen, closing, not verified)."""
    func = _get("okwallet.accounts.services", "customer_assert_can_move_money")
    if func is None or user is None:
        return []
    from okwallet.core.errors import OkError

    try:
        func(user=user, outgoing=outgoing)
    except OkError as exc:
        return [{"code": exc.code, "message": str(exc.message)}]
    except Exception:
        log.exception("accounts money gate failed")
    return []


def ticket_create(**kwargs):
    func = _get("okwallet.helpdesk.services", "ticket_create")
    if func is None:
        return None
    return func(**kwargs)


def ticket_model():
    return _get("okwallet.helpdesk.models", "Ticket")


def chat_wait_seconds() -> int | None:
    func = _get("okwallet.chat.selectors", "join_estimate")
    if func is None:
        return None
    try:
        return func().get("estimated_wait_s")
    except Exception:
        return None


def hotline_wait_seconds() -> int | None:
    """Expected wait for a caller about to join the general hotline queue, when voice says."""
    for name in ("join_estimate", "hotline_join_estimate"):
        func = _get("okwallet.voice.selectors", name)
        if func is not None:
            try:
                got = func()
            except TypeError:
                continue
            except Exception:
                return None
            value = got.get("estimated_wait_s") if isinstance(got, dict) else getattr(got, "wait_s", None)
            try:
                return None if value is None or value == float("inf") else int(value)
            except (TypeError, ValueError, OverflowError):
                return None
    # Until voice offers a join estimate: the wait of someone joining the general ("person")
    # queue now, from voice's own queue facts and the shared M/M/c formula.
    agents = _get("okwallet.voice.selectors", "agents_for_queue")
    waiting = _get("okwallet.voice.selectors", "waiting_calls")
    handle = _get("okwallet.voice.selectors", "mean_handle_seconds")
    if agents is None or waiting is None or handle is None:
        return None
    try:
        import math

        from okwallet.core.queueing import position_wait_seconds

        servers, busy = agents("person")
        if not servers:
            return None
        ahead = waiting("person").count()
        wait = position_wait_seconds(
            position=ahead, servers=servers, mean_handle_s=handle("person"), busy=busy
        )
        return None if not math.isfinite(wait) else int(math.ceil(wait))
    except Exception:
        log.exception("hotline wait estimate failed")
        return None


def reset_password_url() -> str:
    from django.urls import NoReverseMatch, reverse

    for name in (
        "accounts:password_reset",
        "accounts:reset",
        "accounts:forgot_password",
        "accounts:reset_start",
    ):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return reverse("accounts:login")


def url_or_empty(name: str) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def contacts_since(user, since, until) -> bool:
    """Whether this customer opened a ticket (any channel: web, email, chat, phone) or a chat
    conversation or a call between ``since`` and ``until``."""
    Ticket = ticket_model()
    if Ticket is not None:
        try:
            if Ticket.objects.filter(customer=user, created_at__gte=since, created_at__lt=until).exists():
                return True
        except Exception:  # noqa: S110 - provider not migrated yet
            pass
    for module, model, field, when in (
        ("okwallet.chat.models", "Conversation", "customer", "created_at"),
        ("okwallet.voice.models", "Call", "customer", "started_at"),
    ):
        cls = _get(module, model)
        if cls is None:
            continue
        try:
            if cls.objects.filter(**{field: user, f"{when}__gte": since, f"{when}__lt": until}).exists():
                return True
        except Exception:  # noqa: S112 - field names differ or table missing: skip this source
            continue
    return False
