"""Signed-in sessions and app tokens: list, revoke, log out everywhere, last activity."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.utils.module_loading import import_string

from okwallet.accounts import conf
from okwallet.accounts.models import ApiToken, UserSession
from okwallet.core.audit import client_ip
from okwallet.core.timeutil import now_utc


def _session_store() -> type[SessionBase]:
    from django.conf import settings

    return import_string(settings.SESSION_ENGINE + ".SessionStore")


def session_track(*, request, user) -> UserSession | None:
    """Remember the session just created by login() (called right after it)."""
    key = request.session.session_key
    if not key:
        request.session.save()
        key = request.session.session_key
    ip = client_ip(request)
    row, _created = UserSession.objects.update_or_create(
        session_key=key,
        defaults={
            "user": user,
            "ip": ip,
            "last_ip": ip,
            "last_seen": now_utc(),
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "revoked_at": None,
        },
    )
    return row


def _activity_interval() -> int:
    return int(conf.get("OKWALLET_SESSION_ACTIVITY_SECONDS"))


def session_activity_touch(request) -> bool:
    """Record that this signed-in session is active now, from this IP: at most one write per
    session per ``OKWALLET_SESSION_ACTIVITY_SECONDS`` (300), not one per request.

    A cache entry per session gates the database (nothing but one cache ``add`` on most requests;
    with Redis the gate is shared by every process, otherwise each process writes at most once per
    interval), and the UPDATE itself only matches a row not touched within the interval, so
    several processes cannot write more often either. Returns whether a row was written."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key:
        return False
    interval = _activity_interval()
    gate = "okw:sess-seen:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    if not cache.add(gate, 1, timeout=interval):
        return False
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    now = now_utc()
    return bool(
        UserSession.objects.filter(
            session_key=key,
            user_id=user.pk,
            revoked_at__isnull=True,
            last_seen__lt=now - timedelta(seconds=interval),
        ).update(last_seen=now, last_ip=client_ip(request))
    )


def session_rekey(*, old_key: str | None, new_key: str | None) -> None:
    """The session got a new key (password change cycles it): keep tracking it as the same one."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key, revoked_at__isnull=True).update(session_key=new_key)


def session_keep_after_password_change(*, request, user) -> bool:
    """The password just changed on this web session: keep it signed in and tracked.

    Django signs a session out on its next request once the password hash it holds is stale, so
    the session gets the new hash (``update_session_auth_hash``, which also gives it a new key
    against fixation) and its ``UserSession`` row follows the new key. Page and API alike; a
    request made with an app token has no web session of its own to keep (the token is kept by
    ``sessions_revoke_all``). Returns whether a session was kept."""
    from django.contrib.auth import SESSION_KEY, update_session_auth_hash

    if request is None or getattr(request, "api_token", None) is not None:
        return False
    session = getattr(request, "session", None)
    if session is None or not session.session_key or str(session.get(SESSION_KEY)) != str(user.pk):
        return False
    old_key = session.session_key
    update_session_auth_hash(request, user)
    session_rekey(old_key=old_key, new_key=request.session.session_key)
    return True


def session_ended(*, session_key: str | None) -> None:
    """Logged out: the row leaves the list of signed-in sessions."""
    if session_key:
        UserSession.objects.filter(session_key=session_key, revoked_at__isnull=True).update(
            revoked_at=now_utc()
        )


def session_revoke(*, user, session_id: int) -> bool:
    row = UserSession.objects.filter(user=user, pk=session_id, revoked_at__isnull=True).first()
    if row is None:
        return False
    _session_store()(session_key=row.session_key).delete()
    row.revoked_at = now_utc()
    row.save(update_fields=["revoked_at"])
    return True


def api_tokens_revoke(*, user, except_token_id: int | None = None) -> int:
    qs = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    if except_token_id:
        qs = qs.exclude(pk=except_token_id)
    return qs.update(revoked_at=now_utc())


def sessions_revoke_all(
    *, user, except_session_key: str | None = None, except_token_id: int | None = None
) -> int:
    """Log out everywhere (optionally keeping the current session or token)."""
    count = 0
    for row in UserSession.objects.filter(user=user, revoked_at__isnull=True):
        if except_session_key and row.session_key == except_session_key:
            continue
        _session_store()(session_key=row.session_key).delete()
        row.revoked_at = now_utc()
        row.save(update_fields=["revoked_at"])
        count += 1
    return count + api_tokens_revoke(user=user, except_token_id=except_token_id)


def active_sessions(user):
    """Signed-in sessions, most recently active first. A session idle for longer than the session
    lifetime (plus twice the activity interval, the most ``last_seen`` can lag) has certainly
    expired, so it is not listed."""
    cutoff = now_utc() - timedelta(seconds=settings.SESSION_COOKIE_AGE + 2 * _activity_interval())
    return list(
        UserSession.objects.filter(user=user, revoked_at__isnull=True, last_seen__gte=cutoff).order_by(
            "-last_seen", "-id"
        )
    )


def signed_in_list(
    user, *, current_key: str | None = None, current_token_id: int | None = None
) -> list[dict]:
    """Web sessions then app tokens, each ``{kind, id, name, ip, last_ip, created_at, last_seen,
    current}``; ``current`` marks the session or token making this request."""
    rows = [
        {
            "kind": "web",
            "id": s.pk,
            "name": s.user_agent,
            "ip": s.ip,
            "last_ip": s.last_ip or s.ip,
            "created_at": s.created_at,
            "last_seen": s.last_seen,
            "current": current_token_id is None and bool(current_key) and s.session_key == current_key,
        }
        for s in active_sessions(user)
    ]
    rows += [
        {
            "kind": "app",
            "id": t.pk,
            "name": t.name,
            "ip": None,
            "last_ip": None,
            "created_at": t.created_at,
            "last_seen": t.last_used_at,
            "current": t.pk == current_token_id,
        }
        for t in ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")
    ]
    return rows
