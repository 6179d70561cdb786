import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from okwallet.antifraud.models import AppRelease, ScamReport
from okwallet.antifraud.selectors import app_version_info, version_tuple
from okwallet.antifraud.verifier import classify, verify


@pytest.mark.parametrize(
    "text",
    ["400-820-6655", "4008206655", "+86 400 820 6600", "021-6088-6655", "10690066550", "(400) 820-6655"],
)
def test_official_numbers_are_recognised_in_any_format(text):
    verdict = verify(text)
    assert verdict.kind == "phone" and verdict.official and verdict.label


@pytest.mark.parametrize(
    "text",
    [
        "https://okwallet.example/login",
        "www.okwallet.example",
        "m.okwallet.example/a?b=1",
        "OKWALLET.EXAMPLE",
    ],
)
def test_official_sites_including_subdomains_are_recognised(text):
    assert verify(text).official


@pytest.mark.parametrize(
    "text",
    [
        "okwallet.example.evil.cn",
        "https://okwallet-secure.com/verify",
        "http://evilokwallet.example.net",
        "https://user@okwallet.example.attacker.io",
    ],
)
def test_lookalike_sites_are_not_official_and_flagged(text):
    verdict = verify(text)
    assert verdict.kind == "url" and not verdict.official and verdict.lookalike


def test_official_email_domain_and_phishing_addresses():
    assert verify("support@okwallet.example").official
    assert verify("refunds@mail.okwallet.example").official
    fake = verify("service@okwallet-help.com")
    assert not fake.official and fake.lookalike


def test_unknown_numbers_get_scam_advice():
    verdict = verify("170 1234 5678")
    assert not verdict.official
    assert any("验证码" in a or "code" in a for a in verdict.advice)


@given(st.text(max_size=200))
def test_verifier_never_crashes_on_any_text(text):
    verdict = verify(text)
    assert verdict.kind in {"phone", "url", "email", "unknown"}
    assert classify(text) == verdict.kind or verdict.kind == "unknown"


def test_verify_api_is_public(client):
    r = client.get("/api/v1/antifraud/verify", {"q": "400-820-6655"})
    assert r.status_code == 200 and r.json()["official"] is True
    r = client.get("/api/v1/antifraud/verify", {"q": "okwallet-pay.cn"})
    assert r.json()["official"] is False and r.json()["lookalike"] is True


def test_verify_page_shows_the_verdict(client):
    html = client.get("/security-centre/verify/", {"q": "okwallet-pay.cn"}).content.decode()
    assert "okwallet-pay.cn" in html and 'class="status bad"' in html


def test_scam_report_is_stored_raw_and_listed(client, alice, api_token_for):
    token = api_token_for(alice)
    body = {
        "kind": "phone",
        "value": "170 0000 1111",
        "message": "说我的账户异常，要我提供验证码",
        "lost_money": False,
    }
    r = client.post(
        "/api/v1/antifraud/reports",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert r.status_code == 201
    report = ScamReport.objects.get(reference=r.json()["reference"])
    assert report.reporter == alice
    assert report.raw["message"] == body["message"]
    assert report.official_match is False


def test_scam_report_opens_a_security_ticket_when_helpdesk_exists(client, django_capture_on_commit_callbacks):
    pytest.importorskip("okwallet.helpdesk.services")
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            "/security-centre/report/",
            {"kind": "url", "value": "http://okwallet-refund.cn", "message": "退款链接"},
        )
    assert r.status_code == 302
    report = ScamReport.objects.get()
    from okwallet.helpdesk.selectors import ticket_by_number

    assert report.ticket_number, "ticket number recorded"
    ticket = ticket_by_number(report.ticket_number)
    assert ticket is not None and ticket.category == "security"
    # Opening the ticket again is idempotent.
    from okwallet.antifraud.services import scam_report_ticket

    assert scam_report_ticket(report_id=report.pk) == report.ticket_number


def test_empty_scam_report_is_refused_with_a_message(client):
    r = client.post(
        "/api/v1/antifraud/reports", json.dumps({"kind": "phone"}), content_type="application/json"
    )
    assert r.status_code == 422 and r.json()["code"] == "report_empty"
    assert not ScamReport.objects.exists()


def test_app_version_endpoint_tells_old_apps_to_update(client):
    AppRelease.objects.create(platform="android", min_supported="3.1.0", latest="3.4.2")
    r = client.get("/api/v1/app/version", {"platform": "android", "version": "3.0.9"}).json()
    assert r["update_required"] is True and r["update_available"] is True
    r = client.get("/api/v1/app/version", {"platform": "android", "version": "3.4.2"}).json()
    assert r["update_required"] is False and r["update_available"] is False
    assert client.get("/api/v1/app/version", {"platform": "symbian"}).status_code == 422


def test_version_compare_is_numeric_not_textual():
    assert version_tuple("3.10.0") > version_tuple("3.9.9")
    assert app_version_info("ios", "3.10")["update_required"] is False


def test_security_centre_page_renders_advice(client):
    html = client.get("/security-centre/").content.decode()
    assert "<main" in html and 'href="/security-centre/report/"' in html
