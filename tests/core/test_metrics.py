"""/metrics: latency histograms by route, hook gauges, and protection from the public."""

import re

import pytest

from okwallet.core import metrics

LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf NaN-]+$'
)


@pytest.fixture(autouse=True)
def _clean_metrics(db, monkeypatch):
    monkeypatch.setenv("OKWALLET_METRICS_TOKEN", "scrape-token-1")
    metrics.reset_for_tests()
    yield
    metrics.reset_for_tests()


def scrape(client, token="scrape-token-1"):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def value(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_anonymous_visitors_and_customers_cannot_read_metrics(client, client_for, alice, agent):
    response = client.get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client_for(alice).get("/metrics").status_code == 403
    assert client_for(agent).get("/metrics").status_code == 403


def test_supervisors_read_metrics_with_their_session(client_for, supervisor):
    response = client_for(supervisor).get("/metrics")
    assert response.status_code == 200 and "okw_channel_open" in response.content.decode()


def test_without_a_configured_token_no_bearer_token_is_accepted(client, monkeypatch):
    monkeypatch.delenv("OKWALLET_METRICS_TOKEN")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_requests_are_counted_by_route_pattern_not_by_raw_path(client):
    client.get("/api/v1/contact")
    client.get("/api/v1/contact?kind=email")
    client.get("/no/such/page/13800138000")
    text = scrape(client)
    assert value(text, "okw_http_request_duration_seconds_count", route="/api/v1/contact", status="200") == 2
    assert value(text, "okw_http_request_duration_seconds_count", route="<unmatched>", status="404") == 1
    assert "13800138000" not in text
    inf = value(text, "okw_http_request_duration_seconds_bucket", route="/api/v1/contact", le="+Inf")
    assert inf == 2


def test_histogram_buckets_are_cumulative_and_in_order(client):
    metrics.observe(
        "okw_http_request_duration_seconds", {"route": "/x", "method": "GET", "status": "200"}, 0.003
    )
    metrics.observe(
        "okw_http_request_duration_seconds", {"route": "/x", "method": "GET", "status": "200"}, 0.2
    )
    metrics.observe(
        "okw_http_request_duration_seconds", {"route": "/x", "method": "GET", "status": "200"}, 30
    )
    text = scrape(client)
    buckets = [
        line
        for line in text.splitlines()
        if line.startswith("okw_http_request_duration_seconds_bucket") and 'route="/x"' in line
    ]
    les = [re.search(r'le="([^"]+)"', b).group(1) for b in buckets]
    assert les == [*(repr(b) for b in metrics.BUCKETS), "+Inf"]
    counts = [float(b.rsplit(" ", 1)[1]) for b in buckets]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 3
    assert value(text, "okw_http_request_duration_seconds_bucket", route="/x", le="0.25") == 2
    assert value(text, "okw_http_request_duration_seconds_sum", route="/x") == pytest.approx(30.203)


def test_exposition_is_valid_prometheus_text(client):
    client.get("/hours/")
    metrics.counter_inc(
        "okw_test_total", {"label": 'quote " and \\ backslash\nnewline'}, help="a test counter"
    )
    text = scrape(client)
    families = set()
    for line in text.strip().splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in families, f"family {name} declared twice"
            families.add(name)
        elif not line.startswith("# HELP "):
            assert LINE.match(line), line
    assert 'okw_test_total{label="quote \\" and \\\\ backslash\\nnewline"} 1' in text


def test_apps_contribute_gauges_through_the_metrics_hook(client, calendar_defaults):
    text = scrape(client)
    assert value(text, "okw_channel_open", channel="security") == 1
    assert value(text, "okw_jobs_pending") is not None
    assert value(text, "okw_notifications", status="queued") is not None
    assert "# TYPE okw_calendar_missing_years gauge" in text


def test_a_failing_hook_does_not_break_the_scrape(client, monkeypatch):
    from okwallet.hours import hooks

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks, "metrics", broken)
    from okwallet.core.hooks import _implementations

    _implementations.cache_clear()
    try:
        text = scrape(client)
    finally:
        monkeypatch.undo()
        _implementations.cache_clear()
    assert 'okw_metrics_hook_errors{hook="tests.core.test_metrics"} 1' in text
    assert "okw_jobs_pending" in text


def test_job_outcomes_are_counted(client):
    from huey.contrib.djhuey import HUEY

    @HUEY.task(name="okw_test_ok")
    def ok_job():
        return 1

    @HUEY.task(name="okw_test_fail")
    def failing_job():
        raise ValueError("no")

    ok_job()
    failing_job()
    text = scrape(client)
    assert value(text, "okw_jobs_total", task="okw_test_ok", result="complete") == 1
    assert value(text, "okw_jobs_total", task="okw_test_fail", result="error") == 1


@pytest.mark.redis
def test_with_redis_every_process_adds_to_the_same_figures(client):
    from okwallet.core import redis_client

    metrics.counter_inc("okw_shared_total", {"who": "web-1"})
    # another process writes to the same hash
    field = metrics._field("okw_shared_total", {"who": "web-2"})
    redis_client.get().hincrby(metrics._key(), field, 5)
    text = scrape(client)
    assert value(text, "okw_shared_total", who="web-1") == 1
    assert value(text, "okw_shared_total", who="web-2") == 5


@pytest.fixture
def calendar_defaults(db):
    from okwallet.hours.defaults import ensure_default_hours

    ensure_default_hours()


def test_queue_depths_of_every_channel_are_exported(client, alice):
    from okwallet.helpdesk.services import ticket_create

    ticket_create(
        channel="web", category="deposit", subject="充值未到账", body="昨天充值100元", customer=alice
    )
    text = scrape(client)
    assert value(text, "okw_tickets", state="new") == 1
    assert value(text, "okw_tickets_sla_breached") == 0
    assert value(text, "okw_chats", state="queued") == 0
    assert value(text, "okw_calls", state="queued") == 0
    assert value(text, "okw_emails_inbound", state="flagged") == 0
    assert value(text, "okw_ledger_transfers") is not None
