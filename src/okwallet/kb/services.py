"""Writes for the help centre: bot answers, index versioning, feedback, visits, searches."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _lazy

from okwallet.kb.models import IndexVersion, normalise_lang

log = logging.getLogger(__name__)

# Below this the bot says it does not know and offers a person (measured on the public
# question set; see docs/helpcentre.md).
BOT_CONFIDENCE_THRESHOLD = 0.35


@dataclass(frozen=True)
class BotAnswer:
    slug: str | None
    title: str
    answer: str  # plain text: the article's summary (channels render it escaped)
    url: str
    confidence: float
    confident: bool
    alternatives: tuple[dict, ...] = ()


def _confidence(ranked) -> float:
    """0..1 from how much of the question the best article covers and how clearly it beats the
    runner-up. Not a probability; the threshold is set on the public question set."""
    if not ranked:
        return 0.0
    top = ranked[0]
    margin = 1.0 if len(ranked) == 1 else 1.0 - (ranked[1].score / top.score)
    strength = min(1.0, top.score / 12.0)
    value = 0.5 * top.coverage + 0.3 * margin + 0.2 * strength
    return round(max(0.0, min(1.0, value)), 3)


def bot_answer(*, text: str, lang: str = "zh-hans") -> BotAnswer:
    """The best help-article answer to a customer's message, with a confidence.

    ``confident`` is False (and ``slug`` None) when the message matches nothing or too weakly:
    the caller then hands over to a person. Never raises for odd input."""
    from django.urls import reverse

    from okwallet.kb.content_facts import fill_facts
    from okwallet.kb.models import Article
    from okwallet.kb.selectors import search_ranked

    lang = normalise_lang(lang)
    try:
        hit_lang, _terms, ranked = search_ranked(text if isinstance(text, str) else "", lang=lang, limit=3)
    except Exception:
        log.exception("bot_answer failed")
        ranked, hit_lang = [], lang
    confidence = _confidence(ranked)
    if not ranked or confidence < BOT_CONFIDENCE_THRESHOLD:
        return BotAnswer(
            slug=None,
            title="",
            answer="",
            url="",
            confidence=confidence,
            confident=False,
            alternatives=tuple(
                {"slug": r.doc.slug, "title": r.doc.title, "url": reverse("kb:article", args=[r.doc.slug])}
                for r in ranked[:3]
            ),
        )
    top = ranked[0].doc
    article = Article.objects.filter(pk=top.article_id).first()
    answer = fill_facts(article.summary(hit_lang), hit_lang) if article else top.summary
    return BotAnswer(
        slug=top.slug,
        title=top.title,
        answer=answer,
        url=reverse("kb:article", args=[top.slug]),
        confidence=confidence,
        confident=True,
        alternatives=tuple(
            {"slug": r.doc.slug, "title": r.doc.title, "url": reverse("kb:article", args=[r.doc.slug])}
            for r in ranked[1:3]
        ),
    )


def index_version_bump() -> None:
    """Mark the search index stale for every process (call inside the writing transaction)."""
    from okwallet.kb.search.engine import CACHE

    updated = IndexVersion.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        IndexVersion.objects.get_or_create(pk=1, defaults={"version": 1})
    transaction.on_commit(CACHE.invalidate)
    CACHE.invalidate()


# --- visitors, feedback, searches ------------------------------------------------------------

_CONTROL = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])


def clean_text(value, limit: int) -> str:
    """User text as we store it: no NUL or other control characters (PostgreSQL refuses NUL in
    text columns), cut to ``limit``."""
    return str(value or "").translate(_CONTROL)[:limit]


def visit_record(*, visitor: str, user=None, kind: str, target: str = "") -> None:
    from okwallet.kb.models import Visit

    if not visitor:
        return
    Visit.objects.create(
        visitor=clean_text(visitor, 64),
        user=_customer_or_none(user),
        kind=kind,
        target=clean_text(target, 80),
    )


def _customer_or_none(user):
    return (
        user if user is not None and getattr(user, "is_authenticated", False) and not user.is_staff else None
    )


@transaction.atomic
def feedback_record(
    *, article, visitor: str, helpful: bool, comment: str = "", user=None, lang: str = "zh-hans"
):
    """One vote per visitor per article: voting again replaces the earlier vote."""
    from okwallet.kb.models import Feedback

    row, _created = Feedback.objects.update_or_create(
        article=article,
        visitor=visitor[:64],
        defaults={
            "helpful": bool(helpful),
            "comment": clean_text(comment, 2000).strip(),
            "user": _customer_or_none(user),
            "lang": normalise_lang(lang),
        },
    )
    return row


def search_log(
    *, query: str, lang: str, results: int, top_slug: str = "", source: str = "web", visitor: str = ""
):
    from okwallet.kb.models import SearchLog
    from okwallet.kb.search.text import normalise

    q = clean_text(query, 400).strip()
    if not q:
        return None
    return SearchLog.objects.create(
        query=q[:200],
        normalised=clean_text(normalise(q), 200),
        lang=normalise_lang(lang),
        results=results,
        top_slug=top_slug[:80],
        source=source[:20],
        visitor=visitor[:64],
    )


# --- diagnosis flows -------------------------------------------------------------------------

FLOWS = ("deposit", "withdrawal", "forgot-password", "account-locked", "before-call")
TICKET_CATEGORY = {
    "deposit": "deposit",
    "withdrawal": "withdrawal",
    "forgot-password": "password",
    "account-locked": "security",
    "before-call": "other",
}


def flow_start(*, flow: str, visitor: str, user=None):
    from okwallet.core.errors import NotFound
    from okwallet.kb.models import FlowRun

    if flow not in FLOWS:
        raise NotFound("flow_not_found")
    return FlowRun.objects.create(flow=flow, visitor=visitor[:64], user=_customer_or_none(user))


def flow_check(*, run, user=None, reference: str = "", reported: dict | None = None):
    """Run the flow's automatic checks and store what they found on the run.

    Deposit: the wallet's ``deposit_self_check`` (account state, details, peak delay, the
    channel's own answer — which credits the wallet when the channel says paid). Withdrawal:
    the account's money gate and the withdrawal's status. Returns the updated run."""
    from okwallet.kb import integrations

    reported = {k: clean_text(v, 80) if isinstance(v, str) else v for k, v in (reported or {}).items()}
    reference = clean_text(reference, 64)
    facts = {**run.facts, **{k: v for k, v in reported.items() if v not in (None, "")}}
    if reference:
        facts["reference"] = reference
    findings: list[dict] = []
    solved = False
    advice = ""
    customer = _customer_or_none(user)
    if run.flow == "deposit" and customer is not None:
        try:
            check = integrations.deposit_self_check(
                user=customer, reference=reference or None, reported=reported
            )
        except Exception:
            log.exception("deposit_self_check failed")
            check = None
        if check is not None:
            findings = list(check.findings)
            solved = bool(check.solved)
            advice = str(check.advice or "")
            facts.update({k: v for k, v in (check.ticket_facts or {}).items() if v not in (None, "")})
    elif run.flow == "withdrawal" and customer is not None:
        findings = integrations.assert_can_move_money(user=customer, outgoing=True)
        txn = integrations.access_transaction(customer, reference) if reference else None
        if txn is not None:
            facts.update(_txn_facts(txn))
            findings.extend(_withdrawal_findings(txn))
            solved = txn.status == "succeeded" and not findings
    if run.flow in ("deposit", "withdrawal"):
        slow = integrations.deposits_slow_now()
        if run.flow == "deposit" and slow and slow.get("slow"):
            findings.append({"code": "deposits_slow_now", "message": str(_SLOW_MESSAGE)})
    facts["check_solved"] = solved
    facts["checked"] = True
    run.facts = _jsonable(facts)
    run.findings = _jsonable(findings) + ([{"code": "advice", "message": advice}] if advice else [])
    run.save(update_fields=["facts", "findings"])
    return run


def _txn_facts(txn) -> dict:
    from okwallet.core.timeutil import to_local

    return {
        "reference": txn.reference,
        "time": to_local(txn.created_at).isoformat(timespec="minutes") if txn.created_at else "",
        "amount_fen": txn.amount_fen,
        "method": getattr(txn, "method", ""),
        "status": txn.status,
        "channel_ref": getattr(txn, "channel_ref", "") or "",
    }


def _withdrawal_findings(txn) -> list[dict]:
    from django.utils.translation import gettext as _

    if txn.status == "pending":
        return [
            {
                "code": "withdrawal_processing",
                "message": _(
                    "The bank is still processing this withdrawal. Most arrive within 2 hours, at the latest on the next working day."
                ),
            }
        ]
    if txn.status in ("failed", "reversed"):
        return [
            {
                "code": "withdrawal_returned",
                "message": _(
                    "This withdrawal did not go through and the money is back in your wallet balance. Check the card details and try again."
                ),
            }
        ]
    return []


METHOD_LABELS = {
    "card": _lazy("Bank card"),
    "quick_pay": _lazy("Quick pay"),
    "wechat": _lazy("WeChat Pay"),
    "alipay": _lazy("Alipay"),
    "wallet": _lazy("OK Wallet balance"),
    "other": _lazy("Other"),
}

_SLOW_MESSAGE = _lazy(
    "Deposits are slower than usual right now. Most still arrive within the hour; please do not pay twice."
)


def _jsonable(value):
    from okwallet.core.errors import _jsonable as core_jsonable

    return core_jsonable(value)


@transaction.atomic
def flow_finish_solved(*, run):
    from okwallet.core.timeutil import now_utc
    from okwallet.kb.models import FlowRun, Visit

    run = FlowRun.objects.select_for_update().get(pk=run.pk)
    if run.outcome == FlowRun.Outcome.OPEN:
        run.outcome = FlowRun.Outcome.SOLVED
        run.finished_at = now_utc()
        run.save(update_fields=["outcome", "finished_at"])
        visit_record(visitor=run.visitor, user=run.user, kind=Visit.Kind.FLOW_DONE, target=run.flow)
    return run


def flow_ticket_preview(run, description: str = "") -> tuple[str, str]:
    """(subject, body) of the ticket this run would open: what the customer sees before sending."""
    return _ticket_text(run, description)


def _ticket_text(run, description: str) -> tuple[str, str]:
    from django.utils.translation import gettext as _

    from okwallet.core.money import format_fen

    subject = {
        "deposit": _("Deposit not arrived"),
        "withdrawal": _("Withdrawal problem"),
        "forgot-password": _("Cannot reset my password"),
        "account-locked": _("Account locked or frozen"),
        "before-call": _("Question from the help centre"),
    }[run.flow]
    lines = []
    f = run.facts or {}
    if f.get("amount_fen") is not None and isinstance(f.get("amount_fen"), int):
        subject = f"{subject} · {format_fen(f['amount_fen'])}"
        lines.append(_("Amount: %(a)s") % {"a": format_fen(f["amount_fen"])})
    labels = (
        ("answer", _("Customer says")),
        ("time", _("Time")),
        ("method", _("Method")),
        ("reference", _("Reference")),
        ("channel_ref", _("Channel reference")),
        ("status", _("Status")),
    )
    for key, label in labels:
        if f.get(key):
            value = f[key]
            if key == "method" and value in METHOD_LABELS:
                value = f"{METHOD_LABELS[value]} ({value})"
            lines.append(f"{label}: {value}")
    if run.findings:
        lines.append(_("Self-check found:"))
        lines.extend(f"- {item.get('message', '')}" for item in run.findings)
    if description:
        lines.append("")
        lines.append(_("Customer's description:"))
        lines.append(clean_text(description, 4000).strip())
    return subject[:200], "\n".join(lines)


@transaction.atomic
def flow_open_ticket(
    *, run, description: str = "", user=None, phone: str = "", email: str = "", name: str = ""
):
    """Turn an unsolved flow into a ticket pre-filled with what the flow learnt. Idempotent per
    run (``source_ref``); raises ``OkError("helpdesk_unavailable")`` while tickets cannot be opened."""
    from okwallet.core.errors import InvalidInput, OkError
    from okwallet.core.timeutil import now_utc
    from okwallet.kb import integrations
    from okwallet.kb.models import FlowRun, Visit

    run = FlowRun.objects.select_for_update().get(pk=run.pk)
    if run.ticket_number:
        return run
    customer = _customer_or_none(user) or run.user
    if customer is None and not (phone or email):
        from django.utils.translation import gettext_lazy as _

        raise InvalidInput(
            "contact_required",
            _("Please give a phone number or an email address so we can answer you."),
            details={"fields": ["phone", "email"]},
        )
    subject, body = _ticket_text(run, description)
    try:
        ticket = integrations.ticket_create(
            channel="web",
            category=TICKET_CATEGORY[run.flow],
            subject=subject,
            body=body,
            customer=customer,
            requester_phone=clean_text(phone, 30),
            requester_email=clean_text(email, 200),
            requester_name=clean_text(name, 100),
            source_ref=f"kb-flow:{run.pk}",
            facts={**(run.facts or {}), "flow": run.flow, "findings": run.findings},
        )
    except OkError:
        raise
    except Exception as exc:
        log.exception("ticket_create failed for flow %s", run.pk)
        ticket = None
        error = exc
    else:
        error = None
    if ticket is None:
        from django.utils.translation import gettext_lazy as _

        raise OkError(
            "helpdesk_unavailable",
            _("We could not open a ticket just now. Please try again, or contact us by chat or phone."),
            http_status=409,
            details={"reason": type(error).__name__ if error else "helpdesk_missing"},
        )
    run.outcome = FlowRun.Outcome.TICKET
    run.ticket_number = str(getattr(ticket, "number", ""))[:40]
    run.finished_at = now_utc()
    run.save(update_fields=["outcome", "ticket_number", "finished_at"])
    visit_record(visitor=run.visitor, user=run.user, kind=Visit.Kind.CONTACT, target="ticket")
    return run


@transaction.atomic
def flow_hand_to_chat(*, run):
    from okwallet.core.timeutil import now_utc
    from okwallet.kb.models import FlowRun, Visit

    run = FlowRun.objects.select_for_update().get(pk=run.pk)
    if run.outcome == FlowRun.Outcome.OPEN:
        run.outcome = FlowRun.Outcome.CHAT
        run.finished_at = now_utc()
        run.save(update_fields=["outcome", "finished_at"])
        visit_record(visitor=run.visitor, user=run.user, kind=Visit.Kind.CONTACT, target="chat")
    return run
