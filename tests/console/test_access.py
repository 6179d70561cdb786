def test_console_sends_anonymous_visitors_to_login(client, db):
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_console_refuses_customers(client_for, alice):
    response = client_for(alice).get("/console/")
    assert response.status_code == 403 and "无权" in response.content.decode()


def test_console_welcomes_agents(client_for, agent):
    response = client_for(agent).get("/console/")
    assert response.status_code == 200 and "客服工作台" in response.content.decode()


def test_roles_exist_as_groups(db):
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {
        "customer",
        "agent",
        "senior_manager",
        "supervisor",
        "admin",
    }


def test_seed_demo_is_idempotent(db, capsys):
    from django.core.management import call_command

    from okwallet.accounts.models import User

    call_command("seed_demo")
    count = User.objects.count()
    call_command("seed_demo")
    assert User.objects.count() == count
    out = capsys.readouterr().out
    assert "agent1" in out and "13800138001" in out and "OkDemo#2026" in out
