"""Help-centre API: search, articles, feedback, bot answers, diagnosis flows."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.utils.translation import get_language
from ninja import Field, Router, Schema

from okwallet.api.auth import DEFAULT_AUTH
from okwallet.core import ratelimit
from okwallet.core.errors import NotFound
from okwallet.kb import selectors, services
from okwallet.kb.content_facts import contact_facts, fill_facts
from okwallet.kb.models import FlowRun, Visit, normalise_lang
from okwallet.kb.rendering import render_markdown
from okwallet.kb.visitors import visitor_id

router = Router(tags=["help centre"])


def _ip(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


class HitOut(Schema):
    slug: str
    title: str
    snippet_html: str = Field(description="HTML-escaped text; matches wrapped in <mark>")
    score: float
    url: str
    category: str
    lang: str


class SearchOut(Schema):
    query: str
    lang: str
    results: list[HitOut]


@router.get(
    "/kb/search", response=SearchOut, auth=None, summary="Search the help articles (Chinese or English)"
)
def kb_search(request, q: str = "", lang: str = "", limit: int = 10):
    lang = normalise_lang(lang or get_language())
    q = (q or "")[:10_000]
    hits = selectors.search(q, lang=lang, limit=max(1, min(limit, 50)))
    if q.strip():
        allowed, _ = ratelimit.hit(f"kb:searchlog:{_ip(request)}", limit=120, window_seconds=60)
        if allowed:
            services.search_log(
                query=q, lang=lang, results=len(hits), top_slug=hits[0].slug if hits else "", source="api"
            )
    return {"query": q[:200], "lang": lang, "results": [h.__dict__ for h in hits]}


class ArticleBrief(Schema):
    slug: str
    title: str
    category: str
    updated_at: datetime
    url: str


class ArticleOut(ArticleBrief):
    summary: str
    body_html: str
    related: list[ArticleBrief]
    flow: str


def _brief(a, lang: str) -> dict:
    from django.urls import reverse

    return {
        "slug": a.slug,
        "title": a.title(lang),
        "category": a.category.slug,
        "updated_at": a.updated_at,
        "url": reverse("kb:article", args=[a.slug]),
    }


@router.get("/kb/articles", response=list[ArticleBrief], auth=None, summary="All help articles")
def kb_articles(request, lang: str = ""):
    lang = normalise_lang(lang or get_language())
    return [_brief(a, lang) for g in selectors.articles_by_category(lang) for a in g["articles"]]


@router.get("/kb/articles/{slug}", response=ArticleOut, auth=None, summary="One help article")
def kb_article(request, slug: str, lang: str = ""):
    lang = normalise_lang(lang or get_language())
    article = selectors.article_by_slug(slug)
    if article is None:
        raise NotFound("article_not_found")
    facts = contact_facts()
    return {
        **_brief(article, lang),
        "summary": fill_facts(article.summary(lang), lang, facts),
        "body_html": str(render_markdown(fill_facts(article.body(lang), lang, facts))),
        "related": [_brief(r, lang) for r in article.related.all() if r.published],
        "flow": article.flow,
    }


class FeedbackIn(Schema):
    helpful: bool
    comment: str = Field("", max_length=2000)


class FeedbackOut(Schema):
    slug: str
    helpful: bool


@router.post(
    "/kb/articles/{slug}/feedback",
    response=FeedbackOut,
    auth=[*DEFAULT_AUTH],
    summary="Was this article helpful? (one vote per customer per article)",
)
def kb_feedback(request, slug: str, payload: FeedbackIn):
    ratelimit.enforce(f"kb:feedback:{_ip(request)}", limit=30, window_seconds=600)
    article = selectors.article_by_slug(slug)
    if article is None:
        raise NotFound("article_not_found")
    row = services.feedback_record(
        article=article,
        visitor=visitor_id(request),
        helpful=payload.helpful,
        comment=payload.comment,
        user=request.user,
        lang=get_language() or "zh-hans",
    )
    return {"slug": article.slug, "helpful": row.helpful}


class BotIn(Schema):
    text: str = Field(..., max_length=10_000)
    lang: str = Field("zh-hans", max_length=20)


class BotOut(Schema):
    slug: str | None
    title: str
    answer: str
    url: str
    confidence: float
    confident: bool


@router.post(
    "/kb/bot-answer", response=BotOut, auth=None, summary="Best article answer for a customer's message"
)
def kb_bot_answer(request, payload: BotIn):
    ratelimit.enforce(f"kb:bot:{_ip(request)}", limit=60, window_seconds=60)
    got = services.bot_answer(text=payload.text, lang=payload.lang)
    return {k: getattr(got, k) for k in ("slug", "title", "answer", "url", "confidence", "confident")}


class HelpChannelOut(Schema):
    kind: str
    label: str
    value: str
    is_open: bool
    always_open: bool
    next_open: datetime | None
    next_close: datetime | None
    wait_seconds: int | None
    reply_working_days: int | None


@router.get(
    "/kb/still-need-help", response=list[HelpChannelOut], auth=None, summary="Open channels with waits"
)
def kb_still_need_help(request, lang: str = ""):
    return [o.__dict__ for o in selectors.still_need_help(lang=normalise_lang(lang or get_language()))]


class FlowCheckIn(Schema):
    reference: str = Field("", max_length=64)
    time: str = Field("", max_length=40)
    amount_yuan: str = Field("", max_length=20)
    method: str = Field("", max_length=40)


class FlowOut(Schema):
    run_id: UUID
    flow: str
    outcome: str
    solved: bool
    findings: list[dict]
    facts: dict
    ticket_number: str


def _flow_out(run) -> dict:
    return {
        "run_id": run.pk,
        "flow": run.flow,
        "outcome": run.outcome,
        "solved": bool(run.facts.get("check_solved")) or run.outcome == FlowRun.Outcome.SOLVED,
        "findings": run.findings,
        "facts": run.facts,
        "ticket_number": run.ticket_number,
    }


@router.post("/kb/flows/{flow}/check", response=FlowOut, summary="Start a diagnosis flow and run its checks")
def kb_flow_check(request, flow: str, payload: FlowCheckIn):
    from okwallet.core.money import parse_yuan

    ratelimit.enforce(f"kb:flowcheck:{_ip(request)}", limit=30, window_seconds=600)
    run = services.flow_start(flow=flow, visitor=visitor_id(request), user=request.user)
    reported = {k: v for k, v in {"time": payload.time, "method": payload.method}.items() if v}
    if payload.amount_yuan:
        reported["amount_fen"] = parse_yuan(payload.amount_yuan)
    run = services.flow_check(run=run, user=request.user, reference=payload.reference, reported=reported)
    return _flow_out(run)


class FlowFinishIn(Schema):
    outcome: str = Field(..., pattern="^(solved|ticket|chat)$")
    description: str = Field("", max_length=4000)


def _access_api_run(request, run_id: UUID) -> FlowRun:
    run = FlowRun.objects.filter(pk=run_id).first()
    if run is None or run.visitor != visitor_id(request)[:64]:
        raise NotFound("flow_not_found")
    return run


@router.post("/kb/flows/runs/{run_id}/finish", response=FlowOut, summary="End a flow: solved, ticket or chat")
def kb_flow_finish(request, run_id: UUID, payload: FlowFinishIn):
    run = _access_api_run(request, run_id)
    if payload.outcome == "solved":
        run = services.flow_finish_solved(run=run)
    elif payload.outcome == "chat":
        run = services.flow_hand_to_chat(run=run)
    else:
        ratelimit.enforce(f"kb:flowticket:{_ip(request)}", limit=10, window_seconds=3600)
        run = services.flow_open_ticket(run=run, description=payload.description, user=request.user)
    return _flow_out(run)


@router.post("/kb/articles/{slug}/viewed", response={204: None}, summary="The app showed this article")
def kb_viewed(request, slug: str):
    article = selectors.article_by_slug(slug)
    if article is None:
        raise NotFound("article_not_found")
    services.visit_record(visitor=visitor_id(request), user=request.user, kind=Visit.Kind.VIEW, target=slug)
    return 204, None
