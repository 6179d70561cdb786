"""The search index follows article changes, in this process and in the others."""

import pytest
from django.utils import timezone

from okwallet.kb.models import Article, IndexVersion
from okwallet.kb.search.engine import CACHE
from okwallet.kb.selectors import search

pytestmark = pytest.mark.django_db


def test_editing_an_article_updates_search_at_once_in_this_process():
    assert not [h for h in search("火星基地") if h.slug == "hotline"]
    article = Article.objects.get(slug="hotline")
    article.questions_zh += "\n火星基地怎么联系客服"
    article.save()
    assert search("火星基地")[0].slug == "hotline"


def test_unpublishing_an_article_removes_it_from_results():
    assert search("注销账户")[0].slug == "account-closure"
    Article.objects.filter(slug="account-closure").update(published=False)  # bypasses signals, like raw SQL
    IndexVersion.objects.filter(pk=1).update(version=IndexVersion.objects.get(pk=1).version + 1)
    CACHE.invalidate()
    assert "account-closure" not in [h.slug for h in search("注销账户")]


def test_another_process_changing_an_article_is_seen_after_the_version_check(settings):
    """Another app process writes the article and bumps the version row; this process has its
    index cached and only notices through the version row (checked every KB_INDEX_CHECK_SECONDS)."""
    settings.KB_INDEX_CHECK_SECONDS = 3600
    search("充值")  # build and cache
    before = CACHE.version
    # what the other process does, without touching this process's cache:
    Article.objects.filter(slug="email-support").update(
        questions_zh="琉璃蘑菇怎么寄", updated_at=timezone.now()
    )
    IndexVersion.objects.filter(pk=1).update(version=before + 1)
    # still the cached index: the interval has not passed
    assert "email-support" not in [h.slug for h in search("琉璃蘑菇")]
    settings.KB_INDEX_CHECK_SECONDS = 0
    assert search("琉璃蘑菇")[0].slug == "email-support"
    assert CACHE.version == before + 1


def test_loading_the_shipped_content_twice_changes_nothing():
    from okwallet.kb.loader import load_articles

    assert load_articles() == 0


def test_loader_refreshes_an_article_whose_file_changed():
    from okwallet.kb.loader import load_articles

    Article.objects.filter(slug="peak-times").update(content_hash="old", title_zh="旧标题")
    assert load_articles() == 1
    assert Article.objects.get(slug="peak-times").title_zh.startswith("高峰时段")
