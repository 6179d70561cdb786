"""What one hotline webhook costs: SQL statements and CPU, measured over whole calls.

    .venv/bin/python scripts/voice_webhook_cost.py              # 30 calls (180 webhooks)
    .venv/bin/python scripts/voice_webhook_cost.py --calls 100 --by-kind --show-sql gather

In process, with Django's test client on a freshly migrated SQLite database in a temporary
directory (or ``--database-url`` for PostgreSQL): the same call scripts as ``bench/ivr.py``
(greeting → main menu → a branch → queue → two wait announcements → hang-up status), every
request signed with the twilio library's ``RequestValidator``. For each webhook it records the
statements Django sent (``CaptureQueriesContext``, so BEGIN and COMMIT count) and the CPU time
of this thread (``time.thread_time``), then prints the mean per webhook and per kind.

``measure(client, ...)`` is also used by ``tests/voice/test_webhook_cost.py``, which asserts an
upper bound on statements per webhook.

``--uvicorn`` measures the deployed path instead: a uvicorn process (one worker, fresh SQLite)
is sent the same calls one request at a time over HTTP keep-alive, and the server process's
own CPU time (``/proc/<pid>/stat``) is read before and after: CPU per webhook through ASGI,
middleware and all, against ``GET /healthz`` the same way. One request at a time is the
service time; its inverse is the most one process can serve.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "cost-auth-token"
BASE = "http://testserver"
ACTION = re.compile(r'<Gather action="([^"]+)"')
_call_numbers = itertools.count()  # unique CallSids across runs in one process
SCRIPTS = [  # the same as bench/ivr.py
    ["1", "20261201123456#"],  # deposits with a transaction reference
    ["2", "2"],  # security → a person
    ["7", "3"],  # an invalid key, then complaints (senior managers)
    ["9", "4"],  # English, then account closure
]


@dataclass
class Sample:
    kind: str
    statements: int
    cpu_ms: float
    sql: list[str] = field(default_factory=list)


@dataclass
class Result:
    samples: list[Sample]

    @property
    def webhooks(self) -> int:
        return len(self.samples)

    def mean_statements(self, kind: str | None = None) -> float:
        values = [s.statements for s in self.samples if kind is None or s.kind == kind]
        return statistics.fmean(values) if values else 0.0

    def mean_cpu_ms(self, kind: str | None = None) -> float:
        values = [s.cpu_ms for s in self.samples if kind is None or s.kind == kind]
        return statistics.fmean(values) if values else 0.0

    def kinds(self) -> list[str]:
        return sorted({s.kind for s in self.samples})


class UrlencodedClient:
    """Django's test client posting ``application/x-www-form-urlencoded``, as Twilio does
    (the test client's default multipart parsing would be measured otherwise)."""

    def __init__(self, client):
        self.client = client

    def post(self, path: str, data: dict, **extra):
        from urllib.parse import urlencode

        return self.client.post(
            path, data=urlencode(data), content_type="application/x-www-form-urlencoded", **extra
        )


def measure(client, *, calls: int = 30, token: str = TOKEN, keep_sql: bool = False) -> Result:
    """Drive ``calls`` whole calls through ``client`` and measure every webhook."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    samples: list[Sample] = []
    client = UrlencodedClient(client)

    def post(path: str, params: dict, kind: str) -> str:
        headers = {"HTTP_X_TWILIO_SIGNATURE": validator.compute_signature(BASE + path, params)}
        with CaptureQueriesContext(connection) as queries:
            start = time.thread_time()
            response = client.post(path, data=params, **headers)
            cpu_ms = (time.thread_time() - start) * 1000
        body = response.content.decode()
        if response.status_code != 200 or "<Response" not in body:
            raise RuntimeError(f"{kind} {path} answered {response.status_code}: {body[:200]}")
        sql = [q["sql"] for q in queries.captured_queries] if keep_sql else []
        samples.append(Sample(kind, len(queries.captured_queries), cpu_ms, sql))
        return body

    pid = os.getpid()
    for _ in range(calls):
        n = next(_call_numbers)
        sid = f"CA{n:06d}{pid:08d}".ljust(34, "0")
        base = {
            "CallSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": f"+8613{n % 1000:03d}{n:06d}",
            "To": "+864008206655",
            "CallStatus": "in-progress",
            "Direction": "inbound",
        }
        body = post("/voice/twilio/incoming", base, "incoming")
        for digits in SCRIPTS[n % len(SCRIPTS)]:
            match = ACTION.search(body)
            if match is None:
                break
            body = post(unescape(match.group(1)), {**base, "Digits": digits}, "gather")
        for queue_time in (5, 25):
            post("/voice/twilio/wait", {**base, "QueueTime": str(queue_time)}, "wait")
        post(
            "/voice/twilio/status",
            {**base, "CallStatus": "completed", "CallDuration": "40", "SequenceNumber": "3"},
            "status",
        )
    return Result(samples)


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_uvicorn(*, calls: int, warmup: int) -> None:
    """CPU of one uvicorn process per webhook (whole calls, one request at a time) and per healthz."""
    import http.client
    import signal
    import socket
    import subprocess
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    var_dir = tempfile.mkdtemp(prefix="okw-voice-cost-uv-")
    env = {
        **os.environ,
        "OKWALLET_VAR_DIR": var_dir,
        "DJANGO_SETTINGS_MODULE": "okwallet.settings",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "OKWALLET_VOICE_HOURS_OVERRIDE": "open",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "src"),
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "okwallet.asgi:application", *args, "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("uvicorn did not start") from None
                time.sleep(0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        validator = RequestValidator(TOKEN)

        def post(path: str, params: dict) -> str:
            body = urlencode(params)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(base + path, params),
            }
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}: {text[:200]}")
            return text

        def one_call(n: int) -> int:
            sid = f"CAuv{n:06d}{os.getpid():08d}".ljust(34, "0")
            base_params = {
                "CallSid": sid,
                "AccountSid": "AC" + "0" * 32,
                "From": f"+8613{n % 1000:03d}{n:06d}",
                "To": "+864008206655",
                "CallStatus": "in-progress",
                "Direction": "inbound",
            }
            count = 1
            body = post("/voice/twilio/incoming", base_params)
            for digits in SCRIPTS[n % len(SCRIPTS)]:
                match = ACTION.search(body)
                if match is None:
                    break
                body = post(unescape(match.group(1)), {**base_params, "Digits": digits})
                count += 1
            for queue_time in (5, 25):
                post("/voice/twilio/wait", {**base_params, "QueueTime": str(queue_time)})
                count += 1
            post(
                "/voice/twilio/status",
                {**base_params, "CallStatus": "completed", "CallDuration": "40", "SequenceNumber": "3"},
            )
            return count + 1

        for n in range(warmup):
            one_call(10_000 + n)
        cpu0, wall0 = _proc_cpu_s(proc.pid), time.perf_counter()
        webhooks = sum(one_call(n) for n in range(calls))
        cpu1, wall1 = _proc_cpu_s(proc.pid), time.perf_counter()
        for _ in range(50):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        hz = max(200, webhooks)
        cpu2, wall2 = _proc_cpu_s(proc.pid), time.perf_counter()
        for _ in range(hz):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        cpu3, wall3 = _proc_cpu_s(proc.pid), time.perf_counter()
        per = (cpu1 - cpu0) / webhooks * 1000
        print(
            f"uvicorn: webhooks={webhooks} server cpu/webhook={per:.2f} ms "
            f"wall/webhook (one at a time)={(wall1 - wall0) / webhooks * 1000:.2f} ms "
            f"→ at most ~{1000 / per:.0f} webhooks/s per process on an idle core"
        )
        print(
            f"uvicorn: healthz={hz} server cpu/request={(cpu3 - cpu2) / hz * 1000:.2f} ms "
            f"wall/request={(wall3 - wall2) / hz * 1000:.2f} ms"
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        import shutil

        shutil.rmtree(var_dir, ignore_errors=True)


def report(result: Result, *, by_kind: bool, show_sql: str = "") -> None:
    print(
        f"webhooks={result.webhooks} statements/webhook={result.mean_statements():.2f} "
        f"cpu/webhook={result.mean_cpu_ms():.2f} ms"
    )
    if by_kind:
        for kind in result.kinds():
            n = sum(1 for s in result.samples if s.kind == kind)
            print(
                f"    {kind:<9} n={n:>4} statements={result.mean_statements(kind):5.2f} "
                f"cpu={result.mean_cpu_ms(kind):5.2f} ms"
            )
    if show_sql:
        sample = next((s for s in reversed(result.samples) if s.kind == show_sql), None)
        if sample is not None:
            print(f"--- the last {show_sql} webhook's statements ---")
            for sql in sample.sql:
                print("   ", sql[:300])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=4, help="calls before measuring (not counted)")
    parser.add_argument("--by-kind", action="store_true", help="per webhook kind too")
    parser.add_argument("--show-sql", default="", help="print the statements of one webhook of this kind")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL of an empty database")
    parser.add_argument("--uvicorn", action="store_true", help="measure a uvicorn process over HTTP instead")
    args = parser.parse_args()
    if args.uvicorn:
        measure_uvicorn(calls=args.calls, warmup=args.warmup)
        return 0

    var_dir = tempfile.mkdtemp(prefix="okw-voice-cost-")
    os.environ["OKWALLET_VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "okwallet.settings"
    os.environ["TWILIO_AUTH_TOKEN"] = TOKEN
    os.environ["OKWALLET_VOICE_HOURS_OVERRIDE"] = "open"
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("DATABASE_URL", None)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    sys.path.insert(0, str(ROOT / "src"))
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # ALLOWED_HOSTS gains "testserver"; nothing else changes
    settings.DEBUG = False
    call_command("migrate", "--noinput", verbosity=0)
    client = Client()
    if args.warmup:
        measure(client, calls=args.warmup)
    result = measure(client, calls=args.calls, keep_sql=bool(args.show_sql))
    print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    report(result, by_kind=args.by_kind, show_sql=args.show_sql)
    return 0


if __name__ == "__main__":
    sys.exit(main())
