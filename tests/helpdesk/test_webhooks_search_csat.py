import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from okwallet.helpdesk import search, webhooks
from okwallet.helpdesk.hooks import closure_blockers
from okwallet.helpdesk.models import CsatResponse, Ticket, WebhookDelivery, WebhookEndpoint
from okwallet.helpdesk.selectors import csat_token, inbox
from okwallet.helpdesk.services import ticket_add_message, ticket_create, ticket_set_status


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers, body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver
    server.shutdown()


def test_webhook_is_signed_and_verifiable(receiver, alice, queues, django_capture_on_commit_callbacks):
    url, handler = receiver
    WebhookEndpoint.objects.create(url=url, secret="s3cret", events=["ticket.created"])
    with django_capture_on_commit_callbacks(execute=True):
        t = ticket_create(channel="web", category="other", subject="s", body="b", customer=alice)
    headers, body = handler.received[0]
    assert headers["X-OkWallet-Event"] == "ticket.created"
    assert webhooks.verify("s3cret", body, headers["X-OkWallet-Signature"])
    assert not webhooks.verify("wrong", body, headers["X-OkWallet-Signature"])
    assert json.loads(body)["ticket"]["number"] == t.number
    assert WebhookDelivery.objects.get().status == "sent"


def test_failed_webhook_is_retried_with_backoff(receiver, alice, queues, django_capture_on_commit_callbacks):
    url, handler = receiver
    handler.status = 500
    WebhookEndpoint.objects.create(url=url, secret="k")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_create(channel="web", category="other", subject="s", body="b", customer=alice)
    row = WebhookDelivery.objects.get(event="ticket.created")
    assert row.status == "queued" and row.attempts == 1 and "500" in row.last_error
    handler.status = 200
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
    webhooks.webhooks_retry_due()
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 2


def test_jieba_tokens_find_two_character_words(queues, alice, agent):
    a = ticket_create(
        channel="web", category="deposit", subject="充值失败", body="我用银行卡充值一直失败", customer=alice
    )
    b = ticket_create(
        channel="web", category="withdrawal", subject="提现问题", body="提现到账很慢", customer=alice
    )
    found = set(search.filter_queryset(Ticket.objects.all(), "充值").values_list("pk", flat=True))
    assert found == {a.pk}
    assert set(search.filter_queryset(Ticket.objects.all(), "到账 提现").values_list("pk", flat=True)) == {
        b.pk
    }
    ticket_add_message(ticket=a, body="Refund please", author=alice)
    assert set(search.filter_queryset(Ticket.objects.all(), "refund").values_list("pk", flat=True)) == {a.pk}


def test_search_respects_queue_visibility(queues, alice, agent, online, supervisor):
    online(agent, "payments")
    ticket_create(channel="web", category="security", subject="账户被盗", body="账户被盗了", customer=alice)
    assert inbox(agent, view="all", q="被盗").count() == 0
    assert inbox(supervisor, view="all", q="被盗").count() == 1


def test_csat_by_signed_link(queues, alice, agent, online, client):
    online(agent, "payments")
    t = ticket_create(channel="web", category="deposit", subject="s", body="b", customer=alice)
    ticket_add_message(ticket=t, body="好了", author=agent)
    ticket_set_status(ticket=t, status="solved", actor=agent)
    url = f"/support/rate/{csat_token(t)}/"
    assert client.get(url).status_code == 200
    r = client.post(url, {"score": "5", "comment": "很快"})
    assert r.status_code == 200 and CsatResponse.objects.get(ticket=t).score == 5
    assert client.get("/support/rate/forged-token/").status_code == 404


def test_closure_is_blocked_by_open_dispute_tickets(queues, alice, agent, online):
    assert closure_blockers(alice) == []
    online(agent, "payments")
    t = ticket_create(channel="web", category="withdrawal", subject="s", body="b", customer=alice)
    blockers = closure_blockers(alice)
    assert blockers[0]["code"] == "open_dispute_tickets" and t.number in blockers[0]["message"]
    ticket_set_status(ticket=t, status="closed", actor=agent)
    assert closure_blockers(alice) == []
