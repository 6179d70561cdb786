"""Shared fixtures: the named people of every story.

alice is a customer; bob is another customer who must never see alice's data;
agent (Zhou) answers tickets; manager (Chen) is a senior manager who owns complaints;
supervisor (Zhao) watches the dashboard.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed (speed lives in bench/): on a loaded CI machine one
# example can take longer than hypothesis' 200 ms default deadline without anything being wrong.
settings.register_profile("okwallet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("okwallet")

REQUIRE_SERVICES = os.environ.get("OKWALLET_REQUIRE_SERVICES") == "1"
PASSWORD = "Correct-Horse-42"


def _missing_service_reason(item) -> str | None:
    from django.db import connection

    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set OKWALLET_TEST_DATABASE_URL"
    if item.get_closest_marker("redis") and not os.environ.get("OKWALLET_TEST_REDIS_URL"):
        return "needs Redis: set OKWALLET_TEST_REDIS_URL"
    if item.get_closest_marker("browser") and not os.path.exists("/usr/bin/chromium"):
        return "needs Debian's chromium at /usr/bin/chromium"
    return None


def pytest_runtest_setup(item):
    reason = _missing_service_reason(item)
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"required service missing in CI: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def make_customer(db):
    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.accounts.services import customer_create

    ensure_role_groups()
    counter = iter(range(10_000))

    def make(phone: str | None = None, *, name: str = "", email: str = "", password: str = PASSWORD):
        n = next(counter)
        phone = phone or f"+86139{n:08d}"
        return customer_create(
            phone=phone, password=password, email=email, display_name=name, phone_verified=True
        )

    return make


@pytest.fixture
def alice(make_customer):
    return make_customer("+8613800000001", name="Alice 王", email="alice@example.com")


@pytest.fixture
def bob(make_customer):
    return make_customer("+8613800000002", name="Bob 李", email="bob@example.com")


@pytest.fixture
def make_staff(db):
    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.accounts.services import staff_create

    ensure_role_groups()

    def make(username: str, role: str, name: str = ""):
        return staff_create(username=username, password=PASSWORD, role=role, display_name=name or username)

    return make


@pytest.fixture
def agent(make_staff):
    return make_staff("zhou", "agent", "客服 小周")


@pytest.fixture
def manager(make_staff):
    return make_staff("chen", "senior_manager", "陈经理")


@pytest.fixture
def supervisor(make_staff):
    return make_staff("zhao", "supervisor", "赵主管")


@pytest.fixture
def client_for(client, db):
    """client_for(user) → a test client logged in as that user (a fresh one per call)."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def api_token_for(db):
    from okwallet.accounts.models import ApiToken

    def make(user):
        _row, key = ApiToken.issue(user, "test")
        return key

    return make


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    from okwallet.hours import snapshot

    cache.clear()
    snapshot.forget()  # the schedules/calendar copy of the last test (its rollback sent no signal)
    yield
