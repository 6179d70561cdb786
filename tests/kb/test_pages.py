"""Help-centre pages: home, search box, articles, feedback, the still-need-help block."""

import pytest
from django.test import Client

from okwallet.kb.models import Feedback, SearchLog, Visit

pytestmark = pytest.mark.django_db


def test_home_lists_categories_flows_and_open_channels(client):
    r = client.get("/help/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "充值未到账怎么办" in html
    assert 'data-testid="flow-deposit"' in html
    assert 'data-testid="still-need-help"' in html
    assert "400-820-6655" in html  # the hotline number comes from the contact source


def test_search_page_shows_ranked_highlighted_results(client):
    r = client.get("/help/search", {"q": "充值没到账"})
    html = r.content.decode()
    assert r.status_code == 200
    assert 'data-slug="deposit-not-arrived"' in html
    assert "<mark>" in html
    log = SearchLog.objects.get()
    assert log.results > 0 and log.top_slug == "deposit-not-arrived"


def test_search_with_htmx_returns_only_the_results_fragment(client):
    r = client.get("/help/search", {"q": "提现"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert "<html" not in html and 'data-testid="hit"' in html


@pytest.mark.parametrize(
    "q", ["<script>alert(1)</script>", "'; DROP TABLE kb_article;--", "😀" * 50, "a" * 10_000, "   "]
)
def test_odd_search_input_renders_a_page_without_unescaped_html(client, q):
    r = client.get("/help/search", {"q": q})
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.content.decode()


def test_search_that_finds_nothing_is_recorded_for_the_dashboard(client):
    r = client.get("/help/search", {"q": "今天天气怎么样"})
    assert 'data-testid="no-results"' in r.content.decode()
    assert SearchLog.objects.get().results == 0


def test_article_page_has_body_related_articles_feedback_and_updated_date(client):
    r = client.get("/help/a/forgot-password")
    html = r.content.decode()
    assert r.status_code == 200
    assert '<h1 id="article-title">忘记密码' in html
    assert "/help/a/account-locked" in html  # related
    assert 'data-testid="feedback"' in html
    assert "<time datetime=" in html
    assert "{hotline}" not in html and "{security_line}" not in html
    assert Visit.objects.filter(kind="view", target="forgot-password").count() == 1


def test_article_in_english_when_the_language_is_english(client):
    client.cookies["django_language"] = "en"
    html = client.get("/help/a/hotline", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The hotline: number, menu and reaching a person" in html


def test_unknown_article_is_a_friendly_404(client):
    r = client.get("/help/a/no-such-article")
    assert r.status_code == 404
    assert "Traceback" not in r.content.decode()


def test_feedback_vote_is_stored_once_per_visitor_and_can_be_changed(client):
    client.get("/help/a/hotline")  # sets the visitor cookie
    r = client.post("/help/a/hotline/feedback", {"helpful": "no", "comment": "号码在哪里？"})
    assert r.status_code == 302
    client.post("/help/a/hotline/feedback", {"helpful": "yes", "comment": ""})
    row = Feedback.objects.get()
    assert row.helpful is True and row.comment == ""
    other = Client()
    other.post("/help/a/hotline/feedback", {"helpful": "no"})
    assert Feedback.objects.count() == 2


def test_feedback_from_a_customer_is_linked_to_the_account(client_for, alice):
    c = client_for(alice)
    c.post("/help/a/hotline/feedback", {"helpful": "yes"}, HTTP_HX_REQUEST="true")
    row = Feedback.objects.get()
    assert row.user == alice and row.visitor == f"u:{alice.pk}"


def test_feedback_without_a_choice_shows_a_message_not_an_error_page(client):
    r = client.post("/help/a/hotline/feedback", {"comment": "x"})
    assert r.status_code == 422
    assert 'role="alert"' in r.content.decode()
    assert Feedback.objects.count() == 0


def test_feedback_needs_the_csrf_token():
    c = Client(enforce_csrf_checks=True)
    r = c.post("/help/a/hotline/feedback", {"helpful": "yes"})
    assert r.status_code == 403
    assert Feedback.objects.count() == 0


def test_contact_links_record_that_the_visitor_went_on_to_contact_us(client):
    r = client.get("/help/contacted/hotline")
    assert r.status_code == 200 and "tel:4008206655" in r.content.decode()
    r = client.get("/help/contacted/chat")
    assert r.status_code == 302
    assert list(Visit.objects.filter(kind="contact").values_list("target", flat=True).order_by("id")) == [
        "hotline",
        "chat",
    ]
    assert client.get("/help/contacted/fax").status_code == 404


def test_still_need_help_shows_waits_and_reply_promises():
    from django.template.loader import render_to_string

    from okwallet.kb.selectors import ChannelOffer

    offers = [
        ChannelOffer("chat", "在线客服", "", True, False, None, None, 300, None, "/help/contacted/chat"),
        ChannelOffer(
            "hotline",
            "客服热线",
            "400-820-6655",
            True,
            False,
            None,
            None,
            20,
            None,
            "/help/contacted/hotline",
        ),
        ChannelOffer(
            "email",
            "邮件支持",
            "support@okwallet.example",
            False,
            False,
            None,
            None,
            None,
            2,
            "/help/contacted/email",
        ),
    ]
    html = render_to_string("kb/_still_need_help.html", {"still_need_help": offers})
    assert "about 5 min wait" in html or "约等待 5 分钟" in html
    assert "no wait" in html or "无需等待" in html
    assert "2 working days" in html or "2 个工作日内回复" in html


def test_admin_can_edit_an_article(client, db):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser(
        username="root", password="x-Long-Pass-42", phone="+8613900000099"
    )
    client.force_login(admin)
    assert client.get("/admin/kb/article/").status_code == 200


def test_search_page_leaves_out_weak_matches_that_the_api_still_ranks(client):
    page = client.get("/help/search", {"q": "充值没到账"}).content.decode().count('data-testid="hit"')
    api = len(client.get("/api/v1/kb/search", {"q": "充值没到账", "limit": 20}).json()["results"])
    assert 1 <= page < api


def test_nul_and_control_characters_are_stored_cleanly_on_every_database(client):
    """PostgreSQL refuses NUL in text and jsonb: searches, comments and flow answers drop them."""
    client.get("/help/search", {"q": "充值\x00没到账\x07"})
    assert SearchLog.objects.get().query == "充值没到账"
    client.post("/help/a/hotline/feedback", {"helpful": "no", "comment": "a\x00b"})
    assert Feedback.objects.get().comment == "ab"
    url = client.post("/help/flows/account-locked")["Location"]
    assert client.post(url, {"action": "answer", "answer": "lo\x00cked"}).status_code == 302
    r = client.post(url, {"action": "ticket", "phone": "138\x0000138000", "description": "x\x00y"})
    assert r.status_code == 302
