import pytest

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_fills_the_dashboard():
    from okwallet.kb import demo
    from okwallet.kb.models import Article, Feedback, Visit
    from okwallet.kb.selectors import deflection, zero_result_searches

    demo.seed()
    counts = (Article.objects.count(), Visit.objects.count(), Feedback.objects.count())
    demo.seed()
    assert (Article.objects.count(), Visit.objects.count(), Feedback.objects.count()) == counts
    assert deflection()["visits"] > 0
    assert zero_result_searches()[0]["normalised"] == "发票怎么开"


def test_deposit_flow_and_article_warn_when_the_wallet_reports_slow_deposits(client):
    """The wallet's own answer (payments caches it for a minute) says deposits are slow."""
    from django.core.cache import cache

    cache.set("payments:deposits_slow", {"slow": True, "p95_last_hour_s": 1800, "p95_7d_s": 120}, 60)
    assert 'data-testid="deposit-slow"' in client.get("/help/a/deposit-not-arrived").content.decode()
    url = client.post("/help/flows/deposit")["Location"]
    assert 'data-testid="deposit-slow"' in client.get(url).content.decode()
    client.post(url, {"action": "check", "amount": "10"})
    from okwallet.kb.models import FlowRun

    assert "deposits_slow_now" in [f["code"] for f in FlowRun.objects.get().findings]
    cache.set("payments:deposits_slow", {"slow": False, "p95_last_hour_s": 60, "p95_7d_s": 120}, 60)
    assert 'data-testid="deposit-slow"' not in client.get("/help/a/deposit-not-arrived").content.decode()
