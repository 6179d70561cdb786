"""The search index stays consistent across real app processes: two uvicorn servers sharing the
test database each cache their index; an article edited elsewhere (here: the test process, as an
admin on a third process would) shows up in both servers' search within the version-check
interval, and an unpublished article leaves both."""

from __future__ import annotations

import time

import pytest
import requests

from tests.chat.servers import Server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _slugs(server: Server, q: str) -> list[str]:
    resp = requests.get(server.url + "/api/v1/kb/search", params={"q": q, "lang": "zh-hans"}, timeout=20)
    assert resp.status_code == 200, resp.text
    return [hit["slug"] for hit in resp.json()["results"]]


def _eventually(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def two_servers(tmp_path):
    from okwallet.kb.loader import load_articles

    load_articles()  # a transactional test starts from an empty table
    started = [Server(var_dir=str(tmp_path)).start(), Server(var_dir=str(tmp_path)).start()]
    yield started
    for server in started:
        server.stop()


def test_an_edit_reaches_every_process_and_an_unpublished_article_leaves_them(two_servers):
    from okwallet.kb.models import Article

    one, two = two_servers
    for server in (one, two):  # each builds and caches its own index
        assert "hotline" not in _slugs(server, "琉璃蘑菇")
        assert "account-closure" in _slugs(server, "注销账户")

    article = Article.objects.get(slug="hotline")
    article.questions_zh += "\n琉璃蘑菇怎么联系客服"
    article.save()  # bumps the shared IndexVersion row
    for server in (one, two):
        assert _eventually(lambda s=server: _slugs(s, "琉璃蘑菇")[:1] == ["hotline"]), server.url

    closure = Article.objects.get(slug="account-closure")
    closure.published = False
    closure.save()
    for server in (one, two):
        assert _eventually(lambda s=server: "account-closure" not in _slugs(s, "注销账户")), server.url
