import re
import uuid

import pytest


@pytest.fixture(autouse=True)
def _own_rate_limit_namespace(settings):
    """Each test counts its own sends and failures (Redis counters outlive the test database)."""
    settings.OKWALLET_RATELIMIT_NAMESPACE = f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def last_code(db):
    """The 6-digit code in the newest message sent to ``target`` (what the customer reads on the phone)."""
    from okwallet.core.models import Notification

    def read(target: str) -> str:
        note = Notification.objects.filter(to_address=target).order_by("-id").first()
        assert note is not None, f"nothing was sent to {target}"
        match = re.search(r"(?<!\d)(\d{6})(?!\d)", note.body)
        assert match, note.body
        return match.group(1)

    return read


@pytest.fixture
def api(db):
    """A JSON client: api.post(path, body, token=...)."""
    import json

    from django.test import Client

    class Api:
        def __init__(self):
            self.client = Client(REMOTE_ADDR="203.0.113.7")

        def _headers(self, token, ip):
            headers = {}
            if token:
                headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            if ip:
                headers["REMOTE_ADDR"] = ip
            return headers

        def call(self, method, path, body=None, *, token=None, ip=None):
            fn = getattr(self.client, method)
            kwargs = self._headers(token, ip)
            if body is not None:
                return fn("/api/v1" + path, data=json.dumps(body), content_type="application/json", **kwargs)
            return fn("/api/v1" + path, **kwargs)

        def get(self, path, **kw):
            return self.call("get", path, **kw)

        def post(self, path, body=None, **kw):
            return self.call("post", path, body if body is not None else {}, **kw)

        def put(self, path, body=None, **kw):
            return self.call("put", path, body if body is not None else {}, **kw)

        def delete(self, path, **kw):
            return self.call("delete", path, **kw)

    return Api()


def totp_now(user, steps: int = 0) -> str:
    """The authenticator code ``steps`` periods from now (codes can't be replayed; tolerance is 1)."""
    import time

    import pyotp

    from okwallet.accounts.twofactor import totp_device, totp_pending_device, totp_secret_b32

    device = totp_device(user) or totp_pending_device(user)
    return pyotp.TOTP(totp_secret_b32(device)).at(time.time() + 30 * steps)


@pytest.fixture
def enable_totp():
    def enable(user):
        from okwallet.accounts import twofactor

        twofactor.totp_setup_start(user=user)
        return twofactor.totp_setup_confirm(user=user, token=totp_now(user, -1))

    return enable


CODE_RE = re.compile(r"\d{6}")


@pytest.fixture
def fresh_lock_window():
    """Lockout counters are fixed 15-minute windows: start a lockout test well inside one."""
    import time

    window, margin = 900, 30
    into = time.time() % window
    if into > window - margin:
        time.sleep(window - into + 0.5)


@pytest.fixture
def fresh_minute_window():
    """The per-minute send limit is a fixed window: don't start a test in its last seconds."""
    import time

    into = time.time() % 60
    if into > 56:
        time.sleep(60 - into + 0.2)
