"""An agent on the console gets a screen-pop while a customer calls (signed Twilio webhooks to a
real uvicorn server), answers, wraps up; screenshots of the call pages (Chinese UI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html import unescape
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    d = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = d["USER"] + (f":{d['PASSWORD']}" if d.get("PASSWORD") else "")
        return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"
    return f"sqlite:///{d['NAME']}"


@pytest.fixture
def server(tmp_path):
    """uvicorn on a free port sharing the test database, so WebSockets work like in production."""
    from django.conf import settings

    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "okwallet.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ.get("OKWALLET_TEST_REDIS_URL", ""),
        "SECRET_KEY": settings.SECRET_KEY,
        "OKWALLET_VAR_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "OKWALLET_VOICE_HOURS_OVERRIDE": "open",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "src"),
    }
    log = open(tmp_path / "uvicorn.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "okwallet.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--ws",
            "websockets",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 45
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert proc.poll() is None, (tmp_path / "uvicorn.log").read_text()
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


class Caller:
    def __init__(self, base: str, from_number: str, sid: str):
        self.base = base
        self.params = {
            "CallSid": sid,
            "From": from_number,
            "To": "+864008206655",
            "CallStatus": "in-progress",
        }
        self.last = ""

    def post(self, path: str, **extra) -> str:
        from twilio.request_validator import RequestValidator

        params = {**self.params, **extra}
        url = self.base + path
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params)},
        )
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - our own test server
            self.last = response.read().decode()
        return self.last

    def press(self, digits: str) -> str:
        action = unescape(self.last.split('<Gather action="', 1)[1].split('"', 1)[0])
        return self.post(action, Digits=digits)


def _session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_agent_gets_a_screen_pop_answers_and_wraps_up(new_context, server, agent, alice, supervisor, shot):
    import io

    from okwallet.voice.demo import seed

    seed(stdout=io.StringIO())
    ctx = new_context(viewport={"width": 1280, "height": 900})
    ctx.add_cookies([{"name": "sessionid", "value": _session_cookie(agent), "url": server}])
    desk = ctx.new_page()
    desk.goto(server + "/console/calls/")
    assert desk.get_by_role("heading", name="通话记录").is_visible()
    desk.get_by_role("button", name="就绪接听").click()
    desk.wait_for_url("**/console/calls/")
    assert "您已就绪" in desk.locator("main").inner_text()
    shot(desk, "voice-console-calls")

    caller = Caller(server, alice.phone, "CA" + "b" * 32)
    assert "欢迎致电" in caller.post("/voice/twilio/incoming")
    caller.press("1")
    assert "<Enqueue" in caller.press("20261201000777#")
    # The pop shows at "ringing"; the "queued" event then brings the reference the caller keyed.
    pop = desk.locator("#screen-pop", has_text="20261201000777")
    pop.wait_for(state="visible")
    text = pop.inner_text()
    assert alice.public_id in text and "20261201000777" in text and "138****0001" in text
    shot(desk, "voice-screen-pop")

    desk.get_by_role("link", name="打开通话").first.click()
    desk.wait_for_url("**/console/calls/*/")
    desk.get_by_role("button", name="接听").click()
    desk.wait_for_url("**/console/calls/*/")
    desk.get_by_label("通话内容").fill("客户反映充值未到账，单号 20261201000777。")
    desk.get_by_label("约定事项").fill("客服向渠道发起查询")
    desk.get_by_label("下一步").fill("到账后短信通知客户")
    desk.get_by_role("button", name="创建工单并发送记录").click()
    desk.wait_for_url("**/console/calls/*/")
    assert "小结已保存" in desk.locator("main").inner_text()
    shot(desk, "voice-call-wrapped-up")

    from okwallet.core.models import Notification

    assert Notification.objects.filter(kind="voice.call_summary", to_address=alice.phone).exists()

    desk.goto(server + "/console/calls/callbacks/")
    shot(desk, "voice-callbacks")
    desk.goto(server + "/console/calls/voicemails/")
    shot(desk, "voice-voicemails")

    boss = new_context(viewport={"width": 1280, "height": 900})
    boss.add_cookies([{"name": "sessionid", "value": _session_cookie(supervisor), "url": server}])
    home = boss.new_page()
    home.goto(server + "/console/")
    assert "客服热线" in home.locator("main").inner_text()
    shot(home, "voice-console-home")
    home.goto(server + "/console/dashboard/")
    figures = home.locator(".voice-figures")
    assert "要求人工后60秒内接通比例" in figures.inner_text()
    home.locator("#voice-by-hour").wait_for(state="visible")
    shot(home, "voice-supervisor-dashboard")


def test_calls_page_is_usable_on_a_phone_sized_screen(new_context, server, agent, shot):
    import io

    from okwallet.voice.demo import seed

    seed(stdout=io.StringIO())
    ctx = new_context(viewport={"width": 390, "height": 844})
    ctx.add_cookies([{"name": "sessionid", "value": _session_cookie(agent), "url": server}])
    page = ctx.new_page()
    page.goto(server + "/console/calls/")
    assert page.get_by_label("搜索").is_visible()
    shot(page, "voice-console-calls-mobile")
