"""Demo data: the shipped help articles, and a week of help-centre activity so the supervisor
dashboard's deflection chart, feedback and zero-result searches have something to show."""

from __future__ import annotations

import random
from datetime import timedelta


def seed(*, stdout=None):
    from okwallet.kb.loader import load_articles

    load_articles(stdout=stdout)
    _activity(stdout=stdout)


def _activity(*, stdout=None) -> None:
    from okwallet.core.timeutil import now_utc
    from okwallet.kb.models import Article, Feedback, SearchLog, Visit

    if Visit.objects.filter(visitor__startswith="c:demo-").exists():
        return
    rnd = random.Random(6)
    slugs = list(Article.objects.values_list("slug", flat=True))
    if not slugs:
        return
    now = now_utc()
    visits = []
    for day in range(1, 9):
        for n in range(rnd.randint(12, 25)):
            visitor = f"c:demo-{day}-{n}"
            when = now - timedelta(days=day, hours=rnd.randint(0, 10), minutes=rnd.randint(0, 59))
            visits.append(Visit(visitor=visitor, kind=Visit.Kind.SEARCH, created_at=when))
            if rnd.random() < 0.8:
                visits.append(
                    Visit(visitor=visitor, kind=Visit.Kind.VIEW, target=rnd.choice(slugs), created_at=when)
                )
            if rnd.random() < 0.25:
                visits.append(
                    Visit(
                        visitor=visitor,
                        kind=Visit.Kind.CONTACT,
                        target=rnd.choice(["chat", "hotline", "ticket"]),
                        created_at=when + timedelta(minutes=5),
                    )
                )
    wanted = [v.created_at for v in visits]  # auto_now_add overwrites them on create: put them back
    created = Visit.objects.bulk_create(visits)
    for row, when in zip(created, wanted, strict=True):
        Visit.objects.filter(pk=row.pk).update(created_at=when)
    for q, results in [
        ("发票怎么开", 0),
        ("发票怎么开", 0),
        ("信用卡还款", 0),
        ("充值没到账", 3),
        ("花呗", 0),
        ("提现要多久", 4),
    ]:
        SearchLog.objects.create(query=q, normalised=q, lang="zh-hans", results=results, source="web")
    for i, (slug, helpful, comment) in enumerate(
        [
            ("deposit-not-arrived", True, ""),
            ("deposit-not-arrived", False, "希望写清楚银行退款具体几天到账"),
            ("hotline", True, "按 0 转人工很有用"),
            ("account-closure", False, "冷静期能不能缩短？"),
            ("forgot-password", True, ""),
        ]
    ):
        article = Article.objects.filter(slug=slug).first()
        if article:
            Feedback.objects.get_or_create(
                article=article, visitor=f"c:demo-fb-{i}", defaults={"helpful": helpful, "comment": comment}
            )
    if stdout is not None:
        stdout.write(f"kb: {len(visits)} demo help-centre events\n")
