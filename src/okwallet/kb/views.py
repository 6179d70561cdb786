"""Help-centre pages: home, search, articles with feedback, diagnosis flows. Thin: parse, call a
selector or service, render. Every OkError becomes a friendly message on the page."""

from __future__ import annotations

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from okwallet.core import ratelimit
from okwallet.core.errors import OkError
from okwallet.kb import integrations, selectors, services
from okwallet.kb.content_facts import contact_facts, fill_facts
from okwallet.kb.models import Feedback, FlowRun, Visit, normalise_lang
from okwallet.kb.rendering import render_markdown
from okwallet.kb.visitors import remember, visitor_id

FLOW_TITLES = {
    "deposit": ("Deposit not arrived", "deposit-not-arrived"),
    "withdrawal": ("Withdrawal problems", "withdrawal-problems"),
    "forgot-password": ("Forgot password", "forgot-password"),
    "account-locked": ("Account locked or frozen", "account-locked"),
    "before-call": ("Check before you call", "prepare-before-contact"),
}


def _lang(request) -> str:
    return normalise_lang(get_language())


def _common(request) -> dict:
    lang = _lang(request)
    return {
        "lang": lang,
        "still_need_help": selectors.still_need_help(lang=lang),
        "flows": _flow_links(),
    }


def _flow_links() -> list[dict]:
    names = {
        "deposit": _("Deposit not arrived"),
        "withdrawal": _("Withdrawal problems"),
        "forgot-password": _("Forgot password"),
        "account-locked": _("Account locked or frozen"),
        "before-call": _("Check before you call"),
    }
    return [{"code": code, "name": names[code]} for code in FLOW_TITLES]


def _ip(request) -> str:
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


def home(request):
    lang = _lang(request)
    ctx = {**_common(request), "groups": selectors.articles_by_category(lang), "q": ""}
    ctx["popular"] = [a for g in ctx["groups"] for a in g["articles"] if a.flow][:5]
    return remember(request, render(request, "kb/home.html", ctx))


def search_page(request):
    lang = _lang(request)
    q = str(request.GET.get("q", ""))[:500]
    visitor = visitor_id(request)
    hits = selectors.search(q, lang=lang, limit=20, min_relative_score=0.25) if q.strip() else []
    if q.strip():
        allowed, _retry = ratelimit.hit(f"kb:searchlog:{_ip(request)}", limit=120, window_seconds=60)
        if allowed:
            services.search_log(
                query=q, lang=lang, results=len(hits), top_slug=hits[0].slug if hits else "", visitor=visitor
            )
            services.visit_record(visitor=visitor, user=request.user, kind=Visit.Kind.SEARCH, target="")
    template = "kb/_results.html" if request.headers.get("HX-Request") else "kb/search.html"
    ctx = {**_common(request), "q": q, "hits": hits, "searched": bool(q.strip())}
    return remember(request, render(request, template, ctx))


def _article_ctx(request, article, **extra) -> dict:
    lang = _lang(request)
    facts = contact_facts()
    visitor = visitor_id(request)
    return {
        **_common(request),
        "article": article,
        "title": article.title(lang),
        "summary": fill_facts(article.summary(lang), lang, facts),
        "body_html": render_markdown(fill_facts(article.body(lang), lang, facts)),
        "related": [r for r in article.related.all() if r.published],
        "category_name": article.category.name(lang),
        "feedback": Feedback.objects.filter(article=article, visitor=visitor[:64]).first(),
        "thanks": request.GET.get("thanks") == "1",
        "flow": article.flow if article.flow in FLOW_TITLES else "",
        "deposit_notice": selectors.deposit_delay_notice() if article.flow == "deposit" else None,
        "q": "",
        **extra,
    }


def article_page(request, slug):
    article = selectors.article_by_slug(slug)
    if article is None:
        raise Http404
    services.visit_record(
        visitor=visitor_id(request), user=request.user, kind=Visit.Kind.VIEW, target=article.slug
    )
    return remember(request, render(request, "kb/article.html", _article_ctx(request, article)))


@require_POST
def feedback_submit(request, slug):
    article = selectors.article_by_slug(slug)
    if article is None:
        raise Http404
    visitor = visitor_id(request)
    error = ""
    row = None
    try:
        ratelimit.enforce(f"kb:feedback:{_ip(request)}", limit=30, window_seconds=600)
        helpful = request.POST.get("helpful")
        if helpful not in ("yes", "no"):
            raise OkError("invalid_input", _("Please choose whether the article helped."), http_status=422)
        row = services.feedback_record(
            article=article,
            visitor=visitor,
            helpful=helpful == "yes",
            comment=str(request.POST.get("comment", ""))[:2000],
            user=request.user,
            lang=_lang(request),
        )
    except OkError as exc:
        error = str(exc.message)
    ctx = {"article": article, "feedback": row, "error": error, "thanks": row is not None}
    if request.headers.get("HX-Request"):
        return remember(request, render(request, "kb/_feedback.html", ctx, status=200))
    if error:
        return remember(
            request,
            render(request, "kb/article.html", _article_ctx(request, article, error=error), status=422),
        )
    return remember(request, redirect(f"{article_url(article)}?thanks=1#feedback"))


def article_url(article) -> str:
    from django.urls import reverse

    return reverse("kb:article", args=[article.slug])


def contact_redirect(request, channel):
    """The "still need help?" links pass here so deflection sees that the visitor went on."""
    from django.urls import reverse

    targets = {
        "chat": integrations.url_or_empty("chat:page"),
        "email": "",
        "hotline": "",
        "security": "",
        "ticket": integrations.url_or_empty("helpdesk:portal_new"),
    }
    if channel not in targets:
        raise Http404
    services.visit_record(
        visitor=visitor_id(request), user=request.user, kind=Visit.Kind.CONTACT, target=channel
    )
    facts = contact_facts()
    if channel == "email" and facts.get("email"):
        target = f"mailto:{facts['email']}"
    elif channel in ("hotline", "security"):
        number = facts.get("security_line" if channel == "security" else "hotline", "")
        target = f"tel:{number.replace('-', '')}" if number else reverse("contact:contact")
    else:
        target = targets[channel] or reverse("contact:contact")
    if target.startswith(("mailto:", "tel:")):
        response = render(
            request, "kb/contact_go.html", {"target": target, "channel": channel, **_common(request)}
        )
    else:
        response = HttpResponseRedirect(target)
    return remember(request, response)


# --- flows -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def flow_page(request, flow):
    if flow not in FLOW_TITLES:
        raise Http404
    if request.method == "POST":
        run = services.flow_start(flow=flow, visitor=visitor_id(request), user=request.user)
        return remember(request, redirect("kb:flow_step", flow=flow, run_id=run.pk))
    ctx = {
        **_common(request),
        "flow": flow,
        "run": None,
        "step": "intro",
        **_flow_context(request, flow, None),
    }
    return remember(request, render(request, "kb/flow.html", ctx))


def _access_run(request, flow, run_id) -> FlowRun:
    """The visitor's own run, else 404 (another visitor's run looks missing)."""
    run = FlowRun.objects.filter(pk=run_id, flow=flow).first()
    if run is None or run.visitor != visitor_id(request)[:64]:
        raise Http404
    return run


def _flow_context(request, flow, run) -> dict:
    lang = _lang(request)
    article_slug = FLOW_TITLES[flow][1]
    user = request.user if request.user.is_authenticated and not request.user.is_staff else None
    ctx = {
        "flow_title": dict((f["code"], f["name"]) for f in _flow_links())[flow],
        "article": selectors.article_by_slug(article_slug),
        "reset_url": integrations.reset_password_url(),
        "login_url": integrations.url_or_empty("accounts:login"),
        "unfreeze_url": integrations.url_or_empty("accounts:unfreeze"),
        "customer": user,
        "deposit_notice": selectors.deposit_delay_notice() if flow in ("deposit", "withdrawal") else None,
        "lang": lang,
    }
    if flow in ("deposit", "withdrawal") and user is not None:
        ctx["records"] = integrations.transactions_for(user, kind=flow, limit=10)
    if flow == "before-call" and user is not None:
        ctx["recent"] = (integrations.transactions_for(user, kind="deposit", limit=3) or []) + (
            integrations.transactions_for(user, kind="withdrawal", limit=3) or []
        )
    if flow == "account-locked" and user is not None:
        ctx["account_status"] = getattr(user, "status", "")
    return ctx


@require_http_methods(["GET", "POST"])
def flow_step(request, flow, run_id):
    if flow not in FLOW_TITLES:
        raise Http404
    run = _access_run(request, flow, run_id)
    step = request.GET.get("step") or ("done" if run.outcome != FlowRun.Outcome.OPEN else "basics")
    error = ""
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "check":
                ratelimit.enforce(f"kb:flowcheck:{_ip(request)}", limit=30, window_seconds=600)
                reported = _reported(request)
                services.flow_check(
                    run=run,
                    user=request.user,
                    reference=str(request.POST.get("reference", ""))[:64],
                    reported=reported,
                )
                return redirect(f"{request.path}?step=result")
            if action == "answer":
                run.facts = {**run.facts, "answer": services.clean_text(request.POST.get("answer", ""), 40)}
                run.save(update_fields=["facts"])
                return redirect(f"{request.path}?step=result")
            if action == "solved":
                services.flow_finish_solved(run=run)
                return redirect(f"{request.path}?step=done")
            if action == "chat":
                services.flow_hand_to_chat(run=run)
                return redirect("kb:contacted", channel="chat")
            if action == "ticket":
                ratelimit.enforce(f"kb:flowticket:{_ip(request)}", limit=10, window_seconds=3600)
                services.flow_open_ticket(
                    run=run,
                    description=str(request.POST.get("description", ""))[:4000],
                    user=request.user,
                    phone=str(request.POST.get("phone", "")).strip()[:30],
                    email=str(request.POST.get("email", "")).strip()[:200],
                    name=str(request.POST.get("name", "")).strip()[:100],
                )
                return redirect(f"{request.path}?step=done")
            error = _("Please choose one of the options.")
            status = 422
        except OkError as exc:
            error = str(exc.message)
            status = exc.http_status if 400 <= exc.http_status < 500 else 422
            step = "ticket" if action == "ticket" else step
        run.refresh_from_db()
    ticket_subject, ticket_body = services.flow_ticket_preview(run)
    ctx = {
        **_common(request),
        **_flow_context(request, flow, run),
        "flow": flow,
        "run": run,
        "step": step,
        "error": error,
        "ticket_preview": ticket_body,
        "ticket_subject": ticket_subject,
        "portal_ticket_url": integrations.url_or_empty("helpdesk:portal_list"),
    }
    return remember(request, render(request, "kb/flow.html", ctx, status=status))


def _reported(request) -> dict:
    from okwallet.core.money import parse_yuan

    out = {}
    amount = str(request.POST.get("amount", "")).strip()
    if amount:
        out["amount_fen"] = parse_yuan(amount)  # InvalidInput → friendly message
    for key in ("time", "method", "holder_name", "channel_error"):
        value = str(request.POST.get(key, "")).strip()[:80]
        if value:
            out[key] = value
    return out
