"""Reads for the help centre: search, articles, still-need-help facts, dashboard figures."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from okwallet.kb.models import Article, IndexVersion, normalise_lang
from okwallet.kb.search import engine
from okwallet.kb.search import text as T

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    slug: str
    title: str
    snippet_html: str  # HTML-escaped text with <mark> around matches; safe to render
    score: float
    lang: str = "zh-hans"
    url: str = ""
    category: str = ""
    coverage: float = 0.0


def _index_version() -> int:
    row = IndexVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    return int(row or 0)


def _articles_for_index(lang: str) -> list[dict]:
    from okwallet.kb.content_facts import contact_facts, fill_facts

    facts = contact_facts()
    facts_key = tuple(sorted(facts.items()))
    rows = (
        Article.objects.filter(published=True)
        .select_related("category")
        .order_by("id")
        .only(
            "id",
            "slug",
            "title_zh",
            "title_en",
            "summary_zh",
            "summary_en",
            "body_zh",
            "body_en",
            "questions_zh",
            "questions_en",
            "category__slug",
            "updated_at",
        )
    )
    out = []
    for a in rows.iterator(chunk_size=2000):
        if lang == "en" and not a.body_en:
            continue
        out.append(
            {
                "id": a.id,
                "slug": a.slug,
                "title": a.title(lang),
                "summary": fill_facts(a.summary(lang), lang, facts),
                "body": engine.plain_text(fill_facts(a.body(lang), lang, facts)),
                "questions": a.questions(lang),
                "category": a.category.slug,
                "stamp": (a.updated_at.isoformat() if a.updated_at else "", facts_key),
            }
        )
    return out


def search_index(lang: str) -> engine.Index:
    return engine.CACHE.get(
        lang,
        loader=_articles_for_index,
        version_reader=_index_version,
        check_seconds=float(getattr(settings, "KB_INDEX_CHECK_SECONDS", 1.0)),
    )


def _ranked(q: str, lang: str, limit: int) -> tuple[engine.Index, list[str], list[engine.Ranked]]:
    index = search_index(lang)
    terms = engine.query_terms(index, q)
    return index, terms, engine.rank(index, terms, limit=limit)


def search_ranked(q: str, *, lang: str = "zh-hans", limit: int = 10):
    """(index language, terms, ranked) — Chinese queries always search the Chinese articles;
    Latin-letter queries on the Chinese side fall back to the English articles when the
    Chinese ones (pinyin included) find nothing."""
    lang = normalise_lang(lang)
    q = q if isinstance(q, str) else ""
    limit = max(1, min(int(limit or 10), 50))
    if not q.strip():
        return lang, [], []
    search_lang = "zh-hans" if T.has_cjk(q[: T.MAX_QUERY_CHARS * 2]) else lang
    index, terms, ranked = _ranked(q, search_lang, limit)
    if not ranked and search_lang != "en":
        other = "en"
        index, terms2, ranked2 = _ranked(q, other, limit)
        if ranked2:
            return other, terms2, ranked2
    if not ranked and search_lang == "en":
        index, terms2, ranked2 = _ranked(q, "zh-hans", limit)
        if ranked2:
            return "zh-hans", terms2, ranked2
    return search_lang, terms, ranked


def search(q, *, lang: str = "zh-hans", limit: int = 10, min_relative_score: float = 0.0) -> list[Hit]:
    """Ranked articles for a customer's query. Never raises on odd input: empty, huge, emoji,
    SQL- or HTML-like text and unknown language codes give an empty or ranked list.

    ``min_relative_score`` drops hits scoring below that fraction of the best one (pages use it
    so a list of weak matches does not bury the good ones)."""
    from django.urls import reverse

    try:
        hit_lang, terms, ranked = search_ranked(q, lang=lang, limit=limit)
    except Exception:  # a search box must never fail the page; log and answer "nothing found"
        log.exception("kb search failed for %r", str(q)[:80])
        return []
    base = reverse("kb:home")
    hits = []
    if ranked and min_relative_score > 0:
        floor = ranked[0].score * min_relative_score
        ranked = [r for r in ranked if r.score >= floor]
    pattern = engine.highlight_pattern(terms, hit_lang, q) if ranked else None
    for r in ranked:
        hits.append(
            Hit(
                slug=r.doc.slug,
                title=r.doc.title,
                snippet_html=engine.snippet_html(r.doc, pattern),
                score=round(r.score, 4),
                lang=hit_lang,
                url=f"{base}a/{r.doc.slug}",
                category=r.doc.category,
                coverage=r.coverage,
            )
        )
    return hits


def article_by_slug(slug: str, *, include_unpublished: bool = False) -> Article | None:
    qs = Article.objects.select_related("category")
    if not include_unpublished:
        qs = qs.filter(published=True)
    return qs.filter(slug=str(slug)[:80]).first()


def articles_by_category(lang: str) -> list[dict]:
    from okwallet.kb.models import Category

    lang = normalise_lang(lang)
    groups = []
    for cat in Category.objects.prefetch_related("articles").order_by("order", "id"):
        arts = [a for a in cat.articles.all() if a.published]
        if arts:
            groups.append({"category": cat, "name": cat.name(lang), "articles": arts})
    return groups


# --- "still need help?" ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelOffer:
    kind: str
    label: str
    value: str
    is_open: bool
    always_open: bool
    next_open: object
    next_close: object
    wait_seconds: int | None  # expected wait now (chat, hotline) when the channel app says
    reply_working_days: int | None  # email's promise
    url: str  # through kb:contacted so the deflection measure sees it


def still_need_help(*, lang: str = "zh-hans") -> list[ChannelOffer]:
    """The channels with whether they are open now, and their wait or reply time."""
    from django.urls import reverse

    from okwallet.contact.selectors import contact_channels
    from okwallet.kb import integrations

    offers = []
    for c in contact_channels(lang=normalise_lang(lang)):
        wait = None
        if c.kind == "chat" and c.status.is_open:
            wait = integrations.chat_wait_seconds()
        elif c.kind == "hotline" and c.status.is_open:
            wait = integrations.hotline_wait_seconds()
        offers.append(
            ChannelOffer(
                kind=c.kind,
                label=c.label,
                value=c.value,
                is_open=c.status.is_open,
                always_open=c.status.always_open,
                next_open=c.status.next_open,
                next_close=c.status.next_close,
                wait_seconds=wait,
                reply_working_days=c.reply_promise_working_days,
                url=reverse("kb:contacted", args=[c.kind]),
            )
        )
    return offers


def deposit_delay_notice() -> dict | None:
    from okwallet.kb import integrations

    slow = integrations.deposits_slow_now()
    if not slow or not slow.get("slow"):
        return None
    return slow


# --- figures for the supervisor dashboard ----------------------------------------------------


def feedback_summary(*, days: int = 30, limit: int = 5) -> dict:
    from datetime import timedelta

    from django.db.models import Count, Q

    from okwallet.core.timeutil import now_utc
    from okwallet.kb.models import Feedback

    since = now_utc() - timedelta(days=days)
    qs = Feedback.objects.filter(updated_at__gte=since)
    total = qs.count()
    helpful = qs.filter(helpful=True).count()
    worst = list(
        qs.values("article__slug", "article__title_zh", "article__title_en")
        .annotate(n=Count("id"), no=Count("id", filter=Q(helpful=False)))
        .filter(no__gt=0)
        .order_by("-no", "-n")[:limit]
    )
    comments = list(qs.exclude(comment="").select_related("article").order_by("-updated_at")[:limit])
    return {
        "total": total,
        "helpful": helpful,
        "helpful_share": (helpful / total) if total else None,
        "worst": worst,
        "comments": comments,
        "days": days,
    }


def zero_result_searches(*, days: int = 30, limit: int = 10) -> list[dict]:
    from datetime import timedelta

    from django.db.models import Count, Max

    from okwallet.core.timeutil import now_utc
    from okwallet.kb.models import SearchLog

    since = now_utc() - timedelta(days=days)
    return list(
        SearchLog.objects.filter(created_at__gte=since, results=0)
        .values("normalised")
        .annotate(n=Count("id"), last=Max("created_at"))
        .order_by("-n", "-last")[:limit]
    )


def flow_outcomes(*, days: int = 30) -> list[dict]:
    from datetime import timedelta

    from django.db.models import Count

    from okwallet.core.timeutil import now_utc
    from okwallet.kb.models import FlowRun

    since = now_utc() - timedelta(days=days)
    rows = FlowRun.objects.filter(created_at__gte=since).values("flow", "outcome").annotate(n=Count("id"))
    table: dict[str, dict] = {}
    for r in rows:
        table.setdefault(r["flow"], {"flow": r["flow"], "open": 0, "solved": 0, "ticket": 0, "chat": 0})
        table[r["flow"]][r["outcome"]] = r["n"]
    return sorted(table.values(), key=lambda r: r["flow"])


def deflection(*, days: int = 7, now=None) -> dict:
    """Share of help-centre visits that were self-served.

    A visit is one visitor (their account, or the first-party cookie when anonymous) on one day
    (Asia/Shanghai). It counts as deflected when the visitor viewed an article or finished a
    flow that day and did not go on to contact us within 24 hours of their first such step:
    no chat, ticket, email or call. Contacts seen are the help centre's own "contact us" links
    and flow tickets, plus — for signed-in customers — any ticket (every channel becomes one),
    chat conversation or hotline call on their account. Only days whose 24-hour window has
    closed are counted, so the figure does not move once shown.
    """
    from datetime import timedelta

    from okwallet.core.timeutil import SHANGHAI, now_utc
    from okwallet.kb import integrations
    from okwallet.kb.models import Visit

    now = now or now_utc()
    end_local = (
        (now - timedelta(hours=24)).astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    start_local = end_local - timedelta(days=days)
    rows = list(
        Visit.objects.filter(created_at__gte=start_local, created_at__lt=end_local + timedelta(days=2))
        .order_by("created_at")
        .values("visitor", "user_id", "kind", "created_at")
    )
    visits: dict[tuple, dict] = {}
    contacts: dict[str, list] = {}
    for r in rows:
        if r["kind"] == Visit.Kind.CONTACT:
            contacts.setdefault(r["visitor"], []).append(r["created_at"])
        if r["created_at"] >= end_local:
            continue
        day = r["created_at"].astimezone(SHANGHAI).date()
        v = visits.setdefault((r["visitor"], day), {"user_id": r["user_id"], "first_self": None})
        if r["kind"] in (Visit.Kind.VIEW, Visit.Kind.FLOW_DONE) and v["first_self"] is None:
            v["first_self"] = r["created_at"]
        v["user_id"] = v["user_id"] or r["user_id"]
    users = {}
    if any(v["user_id"] for v in visits.values()):
        from django.contrib.auth import get_user_model

        ids = {v["user_id"] for v in visits.values() if v["user_id"]}
        users = {u.pk: u for u in get_user_model().objects.filter(pk__in=ids)}
    per_day: dict = {}
    deflected = 0
    for (visitor, day), v in visits.items():
        ok = False
        first = v["first_self"]
        if first is not None:
            until = first + timedelta(hours=24)
            ok = not any(first <= t < until for t in contacts.get(visitor, []))
            user = users.get(v["user_id"])
            if ok and user is not None:
                ok = not integrations.contacts_since(user, first, until)
        deflected += ok
        d = per_day.setdefault(day, [0, 0])
        d[0] += 1
        d[1] += ok
    total = len(visits)
    days_list = [(start_local + timedelta(days=i)).date() for i in range(days)]
    return {
        "visits": total,
        "deflected": deflected,
        "share": (deflected / total) if total else None,
        "days": [
            {"day": d, "visits": per_day.get(d, [0, 0])[0], "deflected": per_day.get(d, [0, 0])[1]}
            for d in days_list
        ],
    }
