"""Load the shipped help articles from ``content/articles/*.md`` into the database.

A file is YAML front matter between ``---`` lines, then the Chinese body in Markdown, then a
line ``=== en ===`` and the English body. Loading is idempotent: an article is rewritten only
when its file changed since the last load (``content_hash``), so edits made in the admin
survive until the shipped file itself changes. Used by a data migration (every fresh
database), by ``manage.py kb_load`` and by the demo data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

CONTENT = Path(__file__).resolve().parent / "content"
SPLIT = "=== en ==="

CATEGORIES = [
    ("contact", "联系客服", "Contact us", 1),
    ("money", "充值与提现", "Deposits and withdrawals", 2),
    ("account", "账户与登录", "Account and sign-in", 3),
    ("security", "安全与防骗", "Security and fraud", 4),
    ("feedback", "投诉与建议", "Complaints and suggestions", 5),
]


def parse_article(text: str) -> dict:
    if not text.startswith("---"):
        raise ValueError("article file must start with front matter")
    _, front, rest = text.split("---", 2)
    meta = yaml.safe_load(front) or {}
    zh, _sep, en = rest.partition(SPLIT)
    meta["body_zh"] = zh.strip()
    meta["body_en"] = en.strip()
    meta["hash"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return meta


def article_files() -> list[Path]:
    return sorted((CONTENT / "articles").glob("*.md"))


def load_articles(*, article_model=None, category_model=None, index_model=None, stdout=None) -> int:
    """Create or update the shipped articles; returns how many rows changed."""
    if article_model is None:
        from okwallet.kb.models import Article as article_model
        from okwallet.kb.models import Category as category_model
        from okwallet.kb.models import IndexVersion as index_model
    cats = {}
    for slug, zh, en, order in CATEGORIES:
        cat, _ = category_model.objects.get_or_create(
            slug=slug, defaults={"name_zh": zh, "name_en": en, "order": order}
        )
        cats[slug] = cat
    metas = [parse_article(p.read_text(encoding="utf-8")) for p in article_files()]
    changed = 0
    by_slug = {}
    for meta in metas:
        fields = {
            "category": cats[meta["category"]],
            "title_zh": meta["title_zh"],
            "title_en": meta["title_en"],
            "summary_zh": meta.get("summary_zh", "").strip(),
            "summary_en": meta.get("summary_en", "").strip(),
            "body_zh": meta["body_zh"],
            "body_en": meta["body_en"],
            "questions_zh": "\n".join(meta.get("questions_zh") or []),
            "questions_en": "\n".join(meta.get("questions_en") or []),
            "flow": meta.get("flow", "") or "",
            "order": int(meta.get("order", 0)),
            "content_hash": meta["hash"],
        }
        row = article_model.objects.filter(slug=meta["slug"]).first()
        if row is None:
            row = article_model.objects.create(slug=meta["slug"], **fields)
            changed += 1
        elif row.content_hash != meta["hash"]:
            for key, value in fields.items():
                setattr(row, key, value)
            row.save()
            changed += 1
        by_slug[meta["slug"]] = (row, meta)
    for row, meta in by_slug.values():
        wanted = [by_slug[s][0] for s in meta.get("related") or [] if s in by_slug]
        if {r.pk for r in row.related.all()} != {r.pk for r in wanted}:
            row.related.set(wanted)
    if changed:
        obj, created = index_model.objects.get_or_create(pk=1, defaults={"version": 1})
        if not created:
            obj.version += 1
            obj.save()
    if stdout is not None:
        stdout.write(f"kb: {len(metas)} help articles ({changed} created or updated)\n")
    return changed
