"""Security headers every page carries: a strict CSP with a per-request nonce, no framing."""

import re


def test_pages_carry_a_strict_csp_without_unsafe_inline_scripts(client, db):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"


def test_the_nonce_changes_with_every_request(client, db):
    first = client.get("/")["Content-Security-Policy"]
    second = client.get("/")["Content-Security-Policy"]
    assert re.search(r"'nonce-([^']+)'", first).group(1) != re.search(r"'nonce-([^']+)'", second).group(1)


def test_no_template_uses_inline_event_handlers_or_unnonced_inline_scripts():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "src" / "okwallet"
    offenders = []
    for template in root.rglob("templates/**/*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text):
            offenders.append(f"{template.relative_to(root)}: inline event handler")
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and "nonce=" not in tag and "application/json" not in tag:
                offenders.append(f"{template.relative_to(root)}: inline script without nonce")
    assert offenders == []


def test_open_redirect_after_login_is_refused(client, alice, password):
    response = client.post(
        "/accounts/login/?next=https://evil.example/steal",
        {"identifier": alice.phone, "password": password},
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")
    assert response["Location"].startswith("/")


def test_session_key_changes_at_login(client, alice, password):
    client.get("/accounts/login/")
    client.cookies["sessionid"] = "attacker-chosen-session-id"
    response = client.post("/accounts/login/", {"identifier": alice.phone, "password": password})
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != "attacker-chosen-session-id"
    assert int(client.session["_auth_user_id"]) == alice.pk
