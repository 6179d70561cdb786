"""A phone that calls the hotline: signed Twilio webhooks built with the twilio library.

``Phone.dial()`` posts the incoming-call webhook; ``press("1")`` answers the last <Gather>
by posting to its action URL, exactly as Twilio would; every request is signed with
``RequestValidator.compute_signature`` over the full URL and the POST parameters.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from twilio.request_validator import RequestValidator

TOKEN = "test-auth-token-voice"
BASE = "http://testserver"
HOTLINE = "+864008206655"
# 2026-12-01 is a Tuesday: 10:00 in Shanghai is within hotline hours, 22:00 is not.
OPEN_AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CLOSED_AT = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
_sids = itertools.count(1)


class Reply:
    def __init__(self, response):
        self.status = response.status_code
        self.content = response.content.decode()
        self.root = (
            ET.fromstring(self.content) if self.status == 200 and self.content.startswith("<?xml") else None
        )

    def says(self) -> str:
        if self.root is None:
            return ""
        return " ".join((el.text or "") for el in self.root.iter("Say"))

    def say_languages(self) -> set[str]:
        return {el.get("language") for el in self.root.iter("Say")} if self.root is not None else set()

    def gather(self):
        return None if self.root is None else self.root.find("Gather")

    def enqueue(self):
        return None if self.root is None else self.root.find("Enqueue")

    def record(self):
        return None if self.root is None else self.root.find("Record")

    def hangs_up(self) -> bool:
        return self.root is not None and self.root.find("Hangup") is not None


class Phone:
    def __init__(
        self, client, *, from_number: str = "+8613900000009", token: str = TOKEN, sid: str | None = None
    ):
        self.client = client
        self.token = token
        self.from_number = from_number
        self.sid = sid or f"CA{next(_sids):032x}"
        self.last: Reply | None = None
        self.status_seq = itertools.count(0)

    def params(self, **extra) -> dict:
        base = {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.from_number,
            "To": HOTLINE,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        base.update({k: v for k, v in extra.items() if v is not None})
        return base

    def post(self, path: str, *, signature: str | None = None, sign: bool = True, **extra) -> Reply:
        params = self.params(**extra)
        headers = {}
        if sign:
            headers["HTTP_X_TWILIO_SIGNATURE"] = (
                signature
                if signature is not None
                else RequestValidator(self.token).compute_signature(BASE + path, params)
            )
        self.last = Reply(self.client.post(path, data=params, **headers))
        return self.last

    def dial(self, **kw) -> Reply:
        return self.post("/voice/twilio/incoming", **kw)

    def _gather_url(self) -> str:
        gather = self.last.gather() if self.last else None
        assert gather is not None, f"no <Gather> in {self.last.content if self.last else None}"
        return gather.get("action")

    def press(self, digits: str, **kw) -> Reply:
        return self.post(self._gather_url(), Digits=digits, **kw)

    def say(self, speech: str) -> Reply:
        return self.post(self._gather_url(), SpeechResult=speech, Confidence="0.9")

    def silence(self) -> Reply:
        """No key pressed: Twilio posts the Gather action without Digits (actionOnEmptyResult)."""
        return self.post(self._gather_url())

    def wait(self, queue_time: int = 0) -> Reply:
        return self.post(
            "/voice/twilio/wait", QueueTime=str(queue_time), QueueSid="QU1", CurrentQueueSize="1"
        )

    def record_done(self, *, sid: str = "RE" + "1" * 32, duration: int = 12) -> Reply:
        record = self.last.record()
        assert record is not None, self.last.content
        return self.post(
            record.get("action"),
            RecordingSid=sid,
            RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/{sid}",
            RecordingDuration=str(duration),
        )

    def hang_up(self, status: str = "completed", duration: int | None = None) -> Reply:
        return self.post(
            "/voice/twilio/status",
            CallStatus=status,
            CallDuration=None if duration is None else str(duration),
            SequenceNumber=str(next(self.status_seq)),
        )


@pytest.fixture
def twilio_token(settings):
    settings.OKWALLET_TWILIO_AUTH_TOKEN = TOKEN
    return TOKEN


def _fix_clock(monkeypatch, moment):
    import okwallet.voice.flow as flow

    monkeypatch.setattr(flow, "now_utc", lambda: moment)


@pytest.fixture
def open_hours(monkeypatch):
    _fix_clock(monkeypatch, OPEN_AT)
    return OPEN_AT


@pytest.fixture
def closed_hours(monkeypatch):
    _fix_clock(monkeypatch, CLOSED_AT)
    return CLOSED_AT


@pytest.fixture
def phone(client, db, twilio_token, open_hours):
    """A caller from an unknown number, during hotline hours."""
    return Phone(client)


@pytest.fixture
def call_as(client, db, twilio_token):
    def make(from_number: str = "+8613900000009") -> Phone:
        return Phone(client, from_number=from_number)

    return make


@pytest.fixture
def ready_agent(agent):
    from okwallet.voice.services import agent_line_set

    agent_line_set(agent=agent, ready=True)
    return agent


@pytest.fixture
def verified(db):
    """verified(user, id_last6="01123X", birth=date(1990, 5, 1)): a real-name record (accounts.RealName)."""
    import hashlib
    from datetime import date

    from okwallet.accounts.models import RealName
    from okwallet.core.timeutil import now_utc

    def make(user, *, id_last6: str = "01123X", birth: date = date(1990, 5, 1)):
        return RealName.objects.create(
            user=user,
            name="王丽",
            id_hash=hashlib.sha256(f"{user.pk}:{id_last6}".encode()).hexdigest(),
            id_last6=id_last6,
            birth_date=birth,
            provider="test",
            sources=["identity"],
            verified_at=now_utc(),
        )

    return make
