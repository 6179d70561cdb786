"""API authentication: the web's session (with CSRF on writes) or the app's bearer token."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from okwallet.accounts.models import ApiToken, User

# last_used_at is written at most this often per token (a write per request would make every
# read a write).
LAST_USED_EVERY = timedelta(seconds=60)
_TOKEN_FIELDS = ("id", "user_id", "name", "key_hash", "revoked_at")


@cache
def _token_sql(vendor: str) -> str:
    """One statement for a bearer token: the user's row, the token's, whether last_used_at is
    stale, and the user's role groups. Built once per process from the models' names: the ORM's
    three queries (token + user, role groups) spent most of their time compiling SQL (a third of
    a ticket list request's CPU in a profile, docs/benchmarks.md "Tickets")."""
    q = connection.ops.quote_name
    user_cols = ", ".join(f"u.{q(User._meta.get_field(n).column)}" for n in _user_fields())
    token_cols = ", ".join(f"t.{q(ApiToken._meta.get_field(n).column)}" for n in _TOKEN_FIELDS)
    member = User.groups.through._meta
    aggregate = "string_agg(g.name, ',')" if vendor == "postgresql" else "group_concat(g.name, ',')"
    return (
        f"SELECT {user_cols}, {token_cols}, "  # noqa: S608  # nosec B608 - model names only
        "CASE WHEN t.last_used_at IS NULL OR t.last_used_at < %s THEN 1 ELSE 0 END, "
        f"(SELECT {aggregate} FROM {q(member.db_table)} m "
        f"JOIN {q(Group._meta.db_table)} g ON g.id = m.group_id WHERE m.user_id = u.id) "
        f"FROM {q(ApiToken._meta.db_table)} t JOIN {q(User._meta.db_table)} u ON u.id = t.user_id "
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL"
    )


@cache
def _user_fields() -> tuple[str, ...]:
    return tuple(f.name for f in User._meta.concrete_fields)


@cache
def _converters(model, names: tuple[str, ...], vendor: str) -> tuple:
    """Per column: the field, its column expression and the converters the ORM applies to its
    database value (the backend's, then the field's)."""
    out = []
    for name in names:
        field = model._meta.get_field(name)
        col = field.get_col(model._meta.db_table)
        out.append(
            (field, col, tuple(connection.ops.get_db_converters(col) + field.get_db_converters(connection)))
        )
    return tuple(out)


def _from_row(model, names: tuple[str, ...], values) -> object:
    """A model instance from raw column values, converted as the ORM converts them (fields not
    in ``names`` are deferred: loaded on first access)."""
    columns = _converters(model, names, connection.vendor)
    converted = []
    for (_field, col, converters), value in zip(columns, values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f, _, _ in columns], converted)


def token_user(token: str) -> tuple[User, ApiToken] | None:
    """The active user and live token for a bearer ``token``, in one query; the user's roles
    come with it (accounts.roles reads them from ``_okw_roles``)."""
    now = timezone.now()
    with connection.cursor() as cur:
        stale_before = connection.ops.adapt_datetimefield_value(now - LAST_USED_EVERY)
        cur.execute(_token_sql(connection.vendor), [stale_before, ApiToken.hash_key(token)])
        row = cur.fetchone()
    if row is None:
        return None
    user_fields = _user_fields()
    n_user = len(user_fields)
    user = _from_row(User, user_fields, row[:n_user])
    if not user.is_active:
        return None
    n_token = len(_TOKEN_FIELDS)
    api_token = _from_row(ApiToken, _TOKEN_FIELDS, row[n_user : n_user + n_token])
    api_token.user = user
    stale, roles = row[n_user + n_token], row[n_user + n_token + 1]
    user._okw_roles = set(roles.split(",")) if roles else set()
    if stale:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
    return user, api_token


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request, token: str):
        if not token or len(token) > 200:
            return None
        found = token_user(token)
        if found is None:
            return None
        request.user, request.api_token = found
        return request.user


session_auth = SessionAuth()
token_auth = TokenAuth()
DEFAULT_AUTH = [token_auth, session_auth]
