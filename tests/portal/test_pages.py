def test_home_page_renders_in_chinese_by_default(client, db):
    html = client.get("/").content.decode()
    assert '<html lang="zh-Hans">' in html
    assert "OK钱包" in html and "联系我们" in html
    assert 'href="#main"' in html  # skip link for keyboard users


def test_language_switch_sets_english(client, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/contact"})
    assert response.status_code == 302 and response["Location"] == "/contact"
    html = client.get("/contact").content.decode()
    assert '<html lang="en">' in html and "Contact us" in html


def test_language_switch_refuses_offsite_next(client, db):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_login_page_logs_a_customer_in_by_phone(client, alice, password):
    response = client.post("/accounts/login/", {"identifier": "138 0000 0001", "password": password})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Alice" in client.get("/").content.decode()


def test_login_with_wrong_password_shows_a_message(client, alice):
    response = client.post("/accounts/login/", {"identifier": "13800000001", "password": "wrong"})
    assert response.status_code == 200 and "账号或密码不正确" in response.content.decode()


def test_login_ignores_offsite_next(client, alice, password):
    response = client.post(
        "/accounts/login/?next=https://evil.example/",
        {"identifier": "13800000001", "password": password, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_forms_need_a_csrf_token(db, alice, password):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"identifier": "13800000001", "password": password})
    assert response.status_code == 403 and "页面表单已过期" in response.content.decode()
