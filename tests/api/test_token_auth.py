"""Bearer tokens: the one-query lookup (okwallet.api.auth.token_user) gives the same user, roles
and token the ORM would, refuses what it must, and writes last_used_at at most once a minute."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from okwallet.accounts import roles
from okwallet.accounts.models import ApiToken, User
from okwallet.api.auth import LAST_USED_EVERY, token_user


def test_the_user_comes_back_as_the_orm_loads_it(alice, api_token_for):
    key = api_token_for(alice)
    user, token = token_user(key)
    loaded = User.objects.get(pk=alice.pk)
    for field in User._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(loaded, field.attname), field.name
    assert user.date_joined.tzinfo is not None  # converted (SQLite stores text)
    assert token.pk == ApiToken.objects.get(user=alice).pk and token.user is user
    assert token.created_at == ApiToken.objects.get(pk=token.pk).created_at  # deferred, loads on access


def test_roles_come_with_the_user_in_the_same_query(agent, api_token_for):
    key = api_token_for(agent)
    token_user(key)  # last_used_at written once
    with CaptureQueriesContext(connection) as queries:
        user, _token = token_user(key)
        assert roles.has_role(user, roles.AGENT) and not roles.has_role(user, roles.SUPERVISOR)
        assert roles.is_staff_member(user)
    assert len(queries) == 1


def test_a_customer_has_no_staff_role(alice, api_token_for):
    user, _ = token_user(api_token_for(alice))
    assert user._okw_roles <= {roles.CUSTOMER}
    assert not roles.is_staff_member(user)


def test_revoked_unknown_and_inactive_are_refused(alice, bob, api_token_for):
    revoked = api_token_for(alice)
    ApiToken.objects.filter(user=alice).update(revoked_at=timezone.now())
    assert token_user(revoked) is None
    assert token_user("okw_not-a-token") is None
    inactive = api_token_for(bob)
    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert token_user(inactive) is None


def test_last_used_at_is_written_only_when_a_minute_old(alice, api_token_for):
    key = api_token_for(alice)
    row = ApiToken.objects.get(user=alice)
    assert row.last_used_at is None
    token_user(key)
    first = ApiToken.objects.get(pk=row.pk).last_used_at
    assert first is not None
    token_user(key)
    assert ApiToken.objects.get(pk=row.pk).last_used_at == first  # fresh: not written again
    old = timezone.now() - LAST_USED_EVERY - timedelta(seconds=5)
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=old)
    token_user(key)
    assert ApiToken.objects.get(pk=row.pk).last_used_at > old + timedelta(seconds=5)


def test_the_api_answers_with_the_tokens_user(alice, bob, api_token_for, client):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice)}")
    assert response.status_code == 200
    assert response.json()["user_id"] == alice.public_id != bob.public_id
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer okw_wrong").status_code == 401
