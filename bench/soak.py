"""Soak: the production shape under a realistic mix for a long time, with a crash in the middle.

    .venv/bin/python bench/soak.py              # the recorded run: 600 s of load after 60 s of warm-up
    .venv/bin/python bench/soak.py --small      # quick: 60 s at a lower rate
    options: --duration S --rate OPS --app-procs N --workers N --warmup S --no-kill --keep
             --database-url postgres://postgres@127.0.0.1:5432/okw_soak --redis-url redis://127.0.0.1:6379/6

1. Cluster. A fresh PostgreSQL database (dropped and created) and a flushed Redis database, migrated
   and seeded with the demo data (agents, help articles), then the processes of Procfile.cluster as
   children of this script, each with its log under the run directory: ``--app-procs`` uvicorn app
   processes on their own ports behind ``scripts/lb.py``, ``--workers`` Huey workers, the sandbox
   payment channel and the SMTP mail receiver. The one operator setting changed is the chat
   schedule (always open, so agents answer whatever the hour) and the hotline override
   ``OKWALLET_VOICE_HOURS_OVERRIDE=open``; the IMAP poller is not started (no mailbox to poll).
2. Load, through the public interfaces only, open loop (Poisson arrivals per kind, whatever the
   answers do; at most ``--max-inflight`` journeys at once, the rest counted as shed):
   sign-ups (SMS code → account → real name → bank card), logins, deposits by card (the channel
   pays and calls back) and by Alipay (paid at the channel's cashier), withdrawals (security check
   by SMS, payout, callback), transfers (payee lookup, security check for a new payee), balance and
   records, help-centre searches (API and page), chats (customers on app tokens, two demo agents
   logged in on the console answering every message, then ending the chat → a ticket), inbound
   emails over SMTP (new, replies that must thread, redeliveries that must be stored once), IVR
   calls (signed Twilio webhooks through the menus), and bad input (malformed JSON, oversize bodies,
   forged channel notifications and Twilio signatures, a wrong-password flood, invalid amounts)
   that must be refused cleanly. ``GET /healthz`` through the same balancer at a fixed rate is the
   baseline. Each simulated client has its own address in ``X-Forwarded-For`` (what nginx would
   send), so per-IP limits apply per client as in production.
3. Halfway: SIGKILL one app process and one Huey worker, restart them a second later. Requests cut
   off by the kill count as errors of their endpoint; money calls carry an ``Idempotency-Key`` and
   are retried with it (at most once in effect; what stays unknown is reconciled from the records);
   the restarted app rejoins the balancer when its ``/readyz`` says it is warm; chat clients reconnect with ``last_seq`` and resend unacknowledged frames with the same
   ``client_id``.
4. Afterwards (pending payments get time to settle first): ``ledger_verify`` and ``audit_verify``,
   every email stored once and threaded onto the right ticket, every chat message delivered once
   and in order (both sides, and once in the database), no duplicate tickets, no lost callbacks
   (the channel says paid/paid out, we still say pending), every wallet equal to its records,
   p50/p99 per endpoint, errors per endpoint (inside and outside the kill window), the memory of
   each process after warm-up and at the end (the lowest RSS within a window, since a password
   check briefly takes 100 MiB), and this generator's own CPU. Ends with ``TARGET`` lines.

The SMS codes come from the SMS outbox file the default SMS backend writes (``VAR_DIR/
outbox-sms.jsonl``, the sandbox stand-in for an SMS gateway): reading it is reading the phone.
The database is read only for the end checks (``--db-check``, run as a child with Django set up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

# Clients the other benchmarks already have: chat sockets, Twilio menus, email messages.
from chat_load import _connect, cpu_seconds, free_port, raise_nofile, rss_kb  # noqa: E402
from email_ingest import _BODIES, _SUBJECTS, _plain  # noqa: E402
from ivr import ACTION, SCRIPTS, percentile  # noqa: E402
from ivr import TOKEN as TWILIO_TOKEN  # noqa: E402

PY = sys.executable
DEMO_PASSWORD = "OkDemo#2026"
SUPPORT_ADDRESS = "support@okwallet.example"

# Operations per second of each kind at --rate 5 (the default); --rate scales them all.
MIX = {
    "kb_search": 1.3,
    "ticket": 0.1,
    "wallet_read": 1.0,
    "deposit": 0.6,
    "transfer": 0.4,
    "withdrawal": 0.15,
    "login": 0.25,
    "signup": 0.1,
    "ivr_call": 0.15,
    "email": 0.35,
    "chat": 0.1,
    "bad_input": 0.5,
}
BASE_RATE = sum(MIX.values())
HEALTHZ_RATE = 2.0  # the baseline, not scaled

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国红梅鹏飞宇晨欣怡浩然子涵雨轩嘉琪思远"
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
MINE_RE = re.compile(r'id="mine-h".*?<form', re.S)
CHAT_LINK_RE = re.compile(r'href="/console/chat/([A-Za-z0-9_-]{6,})/"')


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- identities ------------------------------------------------------------------------------


def luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        digits = prefix + d
        total = 0
        for i, ch in enumerate(reversed(digits)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return digits
    raise ValueError(prefix)


def make_id_number(rng: random.Random) -> str:
    """A checksum-valid ID number (the sandbox identity provider verifies any such number)."""
    born = date(1970, 1, 1) + timedelta(days=rng.randrange(30 * 365))  # under 60: no priority queue
    body = f"110101{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ID_CHECK[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


@dataclass
class Customer:
    n: int
    phone: str  # 139xxxxxxxx, as typed
    password: str
    name: str
    id_number: str
    card_number: str
    ip: str
    device: str
    token: str = ""
    user_id: str = ""
    card_id: int | None = None
    ready: bool = False
    busy: bool = False
    in_chat: bool = False
    payee_ids: set = field(default_factory=set)  # paid before: no security check
    sms_at: list = field(default_factory=list)
    money_at: list = field(default_factory=list)
    out_fen: int = 0
    payee_id: int | None = None  # how others see this customer after a lookup
    tickets: list = field(default_factory=list)

    @property
    def e164(self) -> str:
        return "+86" + self.phone

    def sms_allowed(self, now: float) -> bool:
        # The code limits: 1 a minute, 10 a day per number (the sign-up used one).
        return len(self.sms_at) < 9 and (not self.sms_at or now - self.sms_at[-1] > 62)

    def money_allowed(self, now: float) -> bool:
        self.money_at = [t for t in self.money_at if now - t < 60]
        return len(self.money_at) < 4


# --- statistics ------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.lat_at: dict[str, list[float]] = defaultdict(list)  # when each of lat was measured
        self.errors: Counter = Counter()
        self.error_kinds: dict[str, Counter] = defaultdict(Counter)
        self.error_times: list[tuple[float, str]] = []
        self.samples: list[str] = []
        self.refused: Counter = Counter()  # bad input refused as it should be
        self.notes: Counter = Counter()  # skipped journeys, shed load, reconnects ...
        self.requests = 0

    def ok(self, name: str, ms: float) -> None:
        self.requests += 1
        self.lat[name].append(ms)
        self.lat_at[name].append(time.time())

    def error(self, name: str, kind: str, detail: str = "", *, request: bool = True) -> None:
        if request:
            self.requests += 1
        self.errors[name] += 1
        self.error_kinds[name][kind] += 1
        self.error_times.append((time.time(), name))
        if len(self.samples) < 40:
            self.samples.append(
                f"{time.strftime('%H:%M:%S')} {name}: {kind} {' '.join(detail.split())[:200]}"
            )

    def total_errors(self) -> int:
        return sum(self.errors.values())


@dataclass
class Resp:
    status: int
    body: bytes
    headers: dict
    ms: float
    ok: bool

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


class Api:
    """One aiohttp session through the balancer; every call is timed and counted under its name."""

    def __init__(self, session, base: str, soak: Soak) -> None:
        self.session, self.base, self.soak = session, base, soak

    async def call(
        self,
        name: str,
        method: str,
        path: str,
        *,
        expect=(200,),
        token: str = "",
        ip: str = "",
        json_body=None,
        data=None,
        headers=None,
        url: str = "",
        session=None,
    ) -> Resp:
        stats = self.soak.stats
        h = {}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if ip:
            h["X-Forwarded-For"] = ip
        h.update(headers or {})
        kwargs = {"headers": h, "allow_redirects": False}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        t0 = time.perf_counter()
        try:
            async with (session or self.session).request(method, url or self.base + path, **kwargs) as r:
                body = await r.read()
                status, headers_out = r.status, dict(r.headers)
        except (TimeoutError, OSError) as exc:
            stats.error(name, type(exc).__name__, str(exc))
            return Resp(0, b"", {}, (time.perf_counter() - t0) * 1000, False)
        except Exception as exc:  # noqa: BLE001 - aiohttp.ClientError and friends: the request failed
            stats.error(name, type(exc).__name__, str(exc))
            return Resp(0, b"", {}, (time.perf_counter() - t0) * 1000, False)
        ms = (time.perf_counter() - t0) * 1000
        ok = status in expect
        if ok:
            stats.ok(name, ms)
        else:
            kind = str(status)
            if status == 503 and b"No app process is up" in body:
                kind = "503 from the balancer (no app process up)"
            stats.error(name, kind, body[:200].decode("utf-8", "replace"))
        return Resp(status, body, headers_out, ms, ok)


class SmsOutbox:
    """Reads the SMS outbox (one JSON line per message) like a phone reads its inbox."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.codes: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.total = 0

    def poll(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        chunk = data[: end + 1]
        self.offset += len(chunk)
        for line in chunk.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            self.total += 1
            found = CODE_RE.search(rec.get("body", ""))
            if found and str(rec.get("kind", "")).startswith("code_"):
                self.codes[(rec.get("to", ""), rec["kind"])].append(found.group(1))

    def seen(self, to: str, kind: str) -> int:
        self.poll()
        return len(self.codes[(to, kind)])

    async def wait(self, to: str, kind: str, *, after: int, timeout: float = 40.0) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            got = self.codes[(to, kind)]
            if len(got) > after:
                return got[-1]  # the newest: a new code replaces the old one
            await asyncio.sleep(0.25)
        return None


# --- the cluster ---------------------------------------------------------------------------------


class Child:
    def __init__(self, name: str, cmd: list[str], env: dict, log_dir: Path, port: int | None = None) -> None:
        self.name, self.cmd, self.env, self.log_dir, self.port = name, cmd, env, log_dir, port
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.started_at = 0.0
        self.ready_at = 0.0

    def start(self) -> None:
        log_file = open(self.log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        self.starts += 1
        self.started_at = time.time()

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up (see {self.log_dir / self.name}.log)")
            if self.port is None:
                if time.time() - self.started_at > 2:
                    break
            else:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        break
                except OSError:
                    pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{self.name} not ready within {timeout:.0f} s")
        self.ready_at = time.time()

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


class Cluster:
    """The processes of Procfile.cluster on free ports, owned by this script."""

    def __init__(self, args, run_dir: Path) -> None:
        self.args, self.run_dir = args, run_dir
        self.var = run_dir / "var"
        self.logs = run_dir / "logs"
        self.var.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.lb_port, self.sandbox_port, self.smtp_port = free_port(), free_port(), free_port()
        self.app_ports = [free_port() for _ in range(args.app_procs)]
        self.base = f"http://127.0.0.1:{self.lb_port}"
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("OKWALLET_", "DJANGO_"))}
        for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"):
            keep.pop(name, None)
        self.env = {
            **keep,
            "PYTHONPATH": str(ROOT / "src"),
            "DJANGO_SETTINGS_MODULE": "okwallet.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "OKWALLET_VAR_DIR": str(self.var),
            "OKWALLET_SANDBOX_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "OKWALLET_PUBLIC_URL": self.base,  # the channel calls back through the balancer
            "OKWALLET_MAIL_SMTP_PORT": str(self.smtp_port),
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "OKWALLET_VOICE_HOURS_OVERRIDE": "open",
            "LOG_LEVEL": "WARNING",
        }
        if args.db_pool:
            self.env["OKWALLET_DB_POOL_SIZE"] = str(args.db_pool)
        manage = [PY, "manage.py"]
        uvicorn = [
            PY,
            "-m",
            "uvicorn",
            "okwallet.asgi:application",
            "--app-dir",
            "src",
            "--host",
            "127.0.0.1",
        ]
        tail = ["--no-access-log", "--lifespan", "off"]
        self.apps = [
            Child(f"web{i + 1}", [*uvicorn, "--port", str(p), *tail], self.env, self.logs, p)
            for i, p in enumerate(self.app_ports)
        ]
        self.workers = [
            Child(f"worker{i + 1}", [*manage, "run_huey", "--quiet"], self.env, self.logs)
            for i in range(args.workers)
        ]
        backends = [f"--backend=127.0.0.1:{p}" for p in self.app_ports]
        self.lb = Child(
            "lb",
            [PY, "scripts/lb.py", "--listen", f"127.0.0.1:{self.lb_port}", *backends],
            self.env,
            self.logs,
            self.lb_port,
        )
        self.sandbox = Child(
            "sandbox",
            [*manage, "sandbox_channel", "--host", "127.0.0.1", "--port", str(self.sandbox_port)],
            self.env,
            self.logs,
            self.sandbox_port,
        )
        self.mail = Child(
            "mail",
            [*manage, "mail_receiver", "--host", "127.0.0.1", "--port", str(self.smtp_port)],
            self.env,
            self.logs,
            self.smtp_port,
        )

    @property
    def children(self) -> list[Child]:
        return [*self.apps, *self.workers, self.lb, self.sandbox, self.mail]

    def manage(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PY, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=check,
            capture_output=capture,
            text=True,
        )

    def prepare(self) -> None:
        import psycopg
        import redis

        base, name = self.args.database_url.rsplit("/", 1)
        log(f"fresh database {name} and Redis {self.args.redis_url} ...")
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(self.args.redis_url).flushdb()
        log("migrate + seed_demo (about a minute) ...")
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("seed_demo", capture=True)
        # Operator settings, as an administrator would make them in /admin/: chat staffed around the
        # clock for the soak. Then drop whatever the seeding cached.
        self.manage(
            "shell",
            "-c",
            "from okwallet.hours.models import Schedule;"
            "Schedule.objects.filter(code='chat').update(always_open=True)",
        )
        redis.Redis.from_url(self.args.redis_url).flushdb()

    def start(self) -> None:
        log(
            f"starting the cluster: {len(self.apps)} app processes behind scripts/lb.py on {self.base}, "
            f"{len(self.workers)} workers, sandbox channel :{self.sandbox_port}, SMTP :{self.smtp_port}"
        )
        for child in [self.sandbox, self.mail, *self.apps, *self.workers, self.lb]:
            child.start()
        for child in [self.sandbox, self.mail, *self.apps, *self.workers, self.lb]:
            child.wait_ready()

    def stop(self) -> None:
        for child in self.children:
            try:
                child.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                traceback.print_exc()

    def drop(self) -> None:
        import psycopg
        import redis

        base, name = self.args.database_url.rsplit("/", 1)
        with contextlib.suppress(Exception), psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            redis.Redis.from_url(self.args.redis_url).flushdb()


# --- memory --------------------------------------------------------------------------------------


def established_by_port() -> Counter:
    """Established TCP connections per local port (IPv4 loopback), from /proc/net/tcp."""
    counts: Counter = Counter()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "01":
                counts[int(parts[1].rsplit(":", 1)[1], 16)] += 1
    return counts


class MemorySampler:
    """RSS (and CPU) of every child every 2 s. Memory figures are the lowest RSS within a window:
    a password check (Argon2, 100 MiB each, several at once in a login burst) lifts RSS for
    seconds and then gives it back, whereas a leak lifts the floor."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.series: dict[str, list[tuple[float, int, int, float]]] = defaultdict(list)  # t, pid, kB, cpu

    def sample(self) -> None:
        now = time.time()
        for child in self.cluster.children:
            if child.alive():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    self.series[child.name].append(
                        (now, child.pid, rss_kb(child.pid), cpu_seconds(child.pid))
                    )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)

    def floor_kb(self, name: str, t0: float, t1: float, pid: int | None = None) -> float | None:
        values = [kb for t, p, kb, _ in self.series[name] if t0 <= t <= t1 and (pid is None or p == pid)]
        return min(values) if values else None

    def peak_kb(self, name: str, t0: float, t1: float) -> float | None:
        values = [kb for t, _p, kb, _ in self.series[name] if t0 <= t <= t1]
        return max(values) if values else None

    def cpu_between(self, name: str, t0: float, t1: float) -> float:
        """CPU seconds used in [t0, t1], summed over the process's lives (a restart starts again at 0)."""
        total = 0.0
        by_pid: dict[int, list[float]] = defaultdict(list)
        for t, p, _kb, cpu in self.series[name]:
            if t0 <= t <= t1:
                by_pid[p].append(cpu)
        for values in by_pid.values():
            total += values[-1] - values[0]
        return total


# --- the soak --------------------------------------------------------------------------------------


@dataclass
class Payment:
    ref: str
    kind: str  # deposit | withdrawal
    customer: Customer
    amount_fen: int
    method: str
    final: str = ""


@dataclass
class Email:
    mid: str
    kind: str  # new | reply | redelivery
    raw: bytes
    sender: str
    parent: str = ""
    stored: bool = False


class Soak:
    def __init__(self, args, cluster: Cluster) -> None:
        self.args, self.cluster = args, cluster
        self.rng = random.Random(args.seed)
        self.run_tag = secrets.token_hex(3)
        self.stats = Stats()
        self.warm_stats = Stats()
        self.measuring = False
        self.customers: list[Customer] = []
        self.next_customer = 0
        self.ids_used: set[str] = set()
        self.payments: list[Payment] = []
        self.ambiguous_money = 0
        self.money_retries = 0  # money calls repeated with their Idempotency-Key
        self.money_replayed = 0  # ... whose retry got the stored answer (the first one had gone through)
        self.emails: list[Email] = []
        self.api_tickets: dict[str, str] = {}  # subject marker -> created | refused | unknown
        self.email_n = 0
        self.chats: list[CustomerChat] = []
        self.agents: list[Agent] = []
        self.sms = SmsOutbox(cluster.var / "outbox-sms.jsonl")
        self.inflight: set[asyncio.Task] = set()
        self.started = 0.0
        self.kill_at = 0.0
        self.restart_ready_at = 0.0
        self.restart_warm_at = 0.0
        self.killed: list[tuple[str, int, int]] = []
        self.journey_errors: Counter = Counter()
        self.tracebacks: list[str] = []
        self.kb_questions = [
            json.loads(line)["q"]
            for line in (ROOT / "tests" / "kb" / "questions.jsonl").read_text().splitlines()
            if line.strip()
        ]
        self.api: Api | None = None
        self.phase = "setup"

    # --- plumbing ---

    @property
    def base(self) -> str:
        return self.cluster.base

    def spawn(self, coro, kind: str) -> None:
        if len(self.inflight) >= self.args.max_inflight:
            coro.close()
            self.stats.notes[f"shed:{kind}"] += 1
            return
        task = asyncio.ensure_future(self.guard(coro, kind))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def guard(self, coro, kind: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug in the soak itself: count and show it
            self.journey_errors[kind] += 1
            if len(self.tracebacks) < 5:
                self.tracebacks.append(traceback.format_exc())

    def pick(self, cond) -> Customer | None:
        choices = [c for c in self.customers if c.ready and not c.busy and cond(c)]
        return self.rng.choice(choices) if choices else None

    # --- journeys: accounts ---

    def new_customer(self) -> Customer:
        n = self.next_customer
        self.next_customer += 1
        while True:
            id_number = make_id_number(self.rng)
            if id_number not in self.ids_used:
                self.ids_used.add(id_number)
                break
        name = self.rng.choice(SURNAMES) + "".join(
            self.rng.choice(GIVEN) for _ in range(self.rng.choice([1, 2]))
        )
        card = luhn_complete("622588" + "".join(self.rng.choice("0123456789") for _ in range(9)))
        return Customer(
            n=n,
            phone=f"139{self.args.phone_block:02d}{n:06d}",
            password=f"Soak-{secrets.token_urlsafe(9)}#7",
            name=name,
            id_number=id_number,
            card_number=card,
            ip=f"10.{20 + n // 65000}.{(n // 250) % 250}.{n % 250 + 1}",
            device=f"soak-device-{self.run_tag}-{n}",
        )

    async def signup(self) -> Customer | None:
        api, c = self.api, self.new_customer()
        seen = self.sms.seen(c.e164, "code_signup")
        r = await api.call(
            "POST /api/v1/auth/signup/code",
            "POST",
            "/api/v1/auth/signup/code",
            json_body={"phone": c.phone},
            ip=c.ip,
            expect=(202,),
        )
        if not r.ok:
            return None
        c.sms_at.append(time.monotonic())
        code = await self.sms.wait(c.e164, "code_signup", after=seen)
        if code is None:
            self.stats.error("SMS code (sign-up)", "not delivered in 40 s", request=False)
            return None
        r = await api.call(
            "POST /api/v1/auth/signup",
            "POST",
            "/api/v1/auth/signup",
            json_body={"phone": c.phone, "code": code, "password": c.password, "device_id": c.device},
            ip=c.ip,
            expect=(201,),
        )
        if not r.ok:
            return None
        c.token, c.user_id = r.json()["token"], r.json().get("user_id") or ""
        r = await api.call(
            "POST /api/v1/me/realname",
            "POST",
            "/api/v1/me/realname",
            json_body={"name": c.name, "id_number": c.id_number},
            token=c.token,
            ip=c.ip,
            expect=(201,),
        )
        if not r.ok:
            return None
        r = await api.call(
            "POST /api/v1/wallet/cards",
            "POST",
            "/api/v1/wallet/cards",
            # the bank's four-element check: card, name, ID number, the phone the bank holds
            json_body={
                "number": c.card_number,
                "holder_name": c.name,
                "id_number": c.id_number,
                "reserved_phone": c.phone,
            },
            token=c.token,
            ip=c.ip,
            expect=(201,),
        )
        if not r.ok:
            return None
        c.card_id = r.json()["id"]
        c.ready = True
        self.customers.append(c)
        return c

    async def login(self) -> None:
        c = self.pick(lambda c: True)
        if c is None:
            self.stats.notes["skip:login"] += 1
            return
        r = await self.api.call(
            "POST /api/v1/auth/token",
            "POST",
            "/api/v1/auth/token",
            json_body={"identifier": c.phone, "password": c.password, "device_id": c.device},
            ip=c.ip,
            expect=(201,),
        )
        if r.ok:
            c.token = r.json()["token"]

    async def wallet_read(self) -> None:
        c = self.pick(lambda c: True)
        if c is None:
            self.stats.notes["skip:wallet_read"] += 1
            return
        which = self.rng.random()
        if which < 0.45:
            await self.api.call("GET /api/v1/wallet", "GET", "/api/v1/wallet", token=c.token, ip=c.ip)
        elif which < 0.85:
            await self.api.call(
                "GET /api/v1/wallet/transactions",
                "GET",
                "/api/v1/wallet/transactions?page=1",
                token=c.token,
                ip=c.ip,
            )
        else:
            await self.api.call("GET /api/v1/me", "GET", "/api/v1/me", token=c.token, ip=c.ip)

    # --- journeys: money ---

    async def deposit(self) -> None:
        now = time.monotonic()
        c = self.pick(lambda c: c.money_allowed(now))
        if c is None:
            self.stats.notes["skip:deposit"] += 1
            return
        c.busy = True
        try:
            c.money_at.append(now)
            method = "card" if self.rng.random() < 0.8 else "alipay"
            amount = self.rng.randrange(1000, 20001)
            body = {"amount_fen": amount, "method": method}
            if method == "card":
                body["card_id"] = c.card_id
            r = await self.money_call("POST /api/v1/wallet/deposits", "/api/v1/wallet/deposits", body, c)
            if r.status == 0:
                return  # unknown after the retries: the records will tell
            if not r.ok:
                return
            txn = r.json()
            self.payments.append(Payment(txn["reference"], "deposit", c, amount, method))
            if method == "alipay" and txn.get("pay_url"):
                await asyncio.sleep(self.rng.uniform(0.5, 3.0))  # the customer confirms at the cashier
                await self.api.call("POST sandbox /pay/{id}", "POST", "", url=txn["pay_url"], expect=(303,))
        finally:
            c.busy = False

    async def money_call(self, name: str, path: str, body: dict, c: Customer) -> Resp:
        """A money call with an ``Idempotency-Key``: cut off by the kill (no answer), refused with a
        503 or still in progress (409), it is retried with the same key, as a client should, and
        moves money at most once. Only an outcome still unknown after the retries counts as
        ambiguous (the records reconcile it)."""
        key = str(uuid.uuid4())
        r = None
        for attempt in range(5):
            if attempt:
                self.money_retries += 1
                await asyncio.sleep(0.5 * attempt)
            r = await self.api.call(
                name if not attempt else name + " (retry, same Idempotency-Key)",
                "POST",
                path,
                json_body=body,
                token=c.token,
                ip=c.ip,
                headers={"Idempotency-Key": key},
                expect=(201,),
            )
            if r.status not in (0, 409, 502, 503, 504):
                if attempt and r.headers.get("Idempotent-Replayed") == "true":
                    self.money_replayed += 1
                return r
        self.ambiguous_money += 1
        return r

    async def step_up(self, c: Customer, purpose: str) -> bool:
        seen = self.sms.seen(c.e164, "code_step_up")
        r = await self.api.call(
            "POST /api/v1/security/step-up/sms",
            "POST",
            "/api/v1/security/step-up/sms",
            json_body={"purpose": purpose},
            token=c.token,
            ip=c.ip,
            expect=(202,),
        )
        if not r.ok:
            return False
        c.sms_at.append(time.monotonic())
        code = await self.sms.wait(c.e164, "code_step_up", after=seen)
        if code is None:
            self.stats.error("SMS code (security check)", "not delivered in 40 s", request=False)
            return False
        r = await self.api.call(
            "POST /api/v1/security/step-up",
            "POST",
            "/api/v1/security/step-up",
            json_body={"purpose": purpose, "method": "sms", "code": code},
            token=c.token,
            ip=c.ip,
            expect=(201,),
        )
        return r.ok

    async def available(self, c: Customer) -> int | None:
        r = await self.api.call("GET /api/v1/wallet", "GET", "/api/v1/wallet", token=c.token, ip=c.ip)
        return r.json().get("available_fen") if r.ok else None

    async def withdrawal(self) -> None:
        now = time.monotonic()
        c = self.pick(lambda c: c.sms_allowed(now) and c.money_allowed(now) and c.out_fen < 80_000)
        if c is None:
            self.stats.notes["skip:withdrawal"] += 1
            return
        c.busy = True
        try:
            c.money_at.append(now)
            available = await self.available(c)
            if available is None or available < 200:
                self.stats.notes["skip:withdrawal (no balance yet)"] += 1
                return
            amount = min(available, self.rng.randrange(100, 1000))
            if not await self.step_up(c, "withdrawal"):
                return
            r = await self.money_call(
                "POST /api/v1/wallet/withdrawals",
                "/api/v1/wallet/withdrawals",
                {"amount_fen": amount, "card_id": c.card_id},
                c,
            )
            c.out_fen += amount
            if r.ok:
                self.payments.append(Payment(r.json()["reference"], "withdrawal", c, amount, "card"))
        finally:
            c.busy = False

    async def transfer(self) -> None:
        now = time.monotonic()
        payer = self.pick(lambda c: c.money_allowed(now) and c.out_fen < 80_000)
        if payer is None or len(self.customers) < 2:
            self.stats.notes["skip:transfer"] += 1
            return
        payer.busy = True
        try:
            payer.money_at.append(now)
            known = [p for p in self.customers if p.payee_id in payer.payee_ids and p is not payer]
            if known and (self.rng.random() < 0.8 or not payer.sms_allowed(now)):
                payee = self.rng.choice(known)
            elif payer.sms_allowed(now):
                payee = self.rng.choice([p for p in self.customers if p is not payer and p.ready])
            else:
                self.stats.notes["skip:transfer (new payee needs an SMS)"] += 1
                return
            available = await self.available(payer)
            if available is None or available < 100:
                self.stats.notes["skip:transfer (no balance yet)"] += 1
                return
            r = await self.api.call(
                "POST /api/v1/wallet/payees/lookup",
                "POST",
                "/api/v1/wallet/payees/lookup",
                json_body={"phone": payee.phone},
                token=payer.token,
                ip=payer.ip,
            )
            if not r.ok:
                return
            payee.payee_id = r.json()["payee_id"]
            if payee.payee_id not in payer.payee_ids and not await self.step_up(payer, "new_payee"):
                return
            amount = min(available, self.rng.randrange(50, 500))
            r = await self.money_call(
                "POST /api/v1/wallet/transfers",
                "/api/v1/wallet/transfers",
                {"payee_id": payee.payee_id, "amount_fen": amount, "note": "soak"},
                payer,
            )
            payer.out_fen += amount
            if r.ok:
                payer.payee_ids.add(payee.payee_id)
        finally:
            payer.busy = False

    # --- journeys: help centre, hotline, email ---

    async def ticket(self) -> None:
        """A customer who did not find the answer opens a request (each must be stored exactly once)."""
        c = self.pick(lambda c: len(c.tickets) < 8)
        if c is None:
            self.stats.notes["skip:ticket"] += 1
            return
        await self.open_ticket(c)

    async def open_ticket(self, c: Customer, base: str = "") -> None:
        marker = f"soak-{self.run_tag}-t{len(self.api_tickets)}"
        self.api_tickets[marker] = "pending"
        c.tickets.append(marker)
        r = await self.api.call(
            "POST /api/v1/tickets",
            "POST",
            "/api/v1/tickets",
            url=f"{base}/api/v1/tickets" if base else "",
            json_body={
                "category": self.rng.choice(["deposit", "withdrawal", "transfer", "other"]),
                "subject": f"充值没有到账 {marker}",
                "body": "昨天下午用银行卡充值，银行已经扣款，钱包余额没有变化。",
            },
            token=c.token,
            ip=c.ip,
            expect=(201,),
        )
        self.api_tickets[marker] = "created" if r.ok else ("unknown" if r.status == 0 else "refused")

    async def kb_search(self) -> None:
        q = self.rng.choice(self.kb_questions)
        ip = f"10.99.{self.rng.randrange(250)}.{self.rng.randrange(1, 250)}"
        if self.rng.random() < 0.7:
            await self.api.call(
                "GET /api/v1/kb/search", "GET", f"/api/v1/kb/search?q={quote(q)}&limit=5", ip=ip
            )
        else:
            await self.api.call("GET /help/search (page)", "GET", f"/help/search?q={quote(q)}", ip=ip)

    async def ivr_call(self) -> None:
        from twilio.request_validator import RequestValidator

        validator = RequestValidator(TWILIO_TOKEN)
        n = self.rng.randrange(10**9)
        known = self.rng.random() < 0.5 and self.customers
        caller = ("+86" + self.rng.choice(self.customers).phone) if known else f"+86137{n % 10**8:08d}"
        params = {
            "CallSid": f"CA{self.run_tag}{n:09d}".ljust(34, "0"),
            "AccountSid": "AC" + "0" * 32,
            "From": caller,
            "To": "+864008206655",
            "CallStatus": "in-progress",
            "Direction": "inbound",
        }

        async def post(name: str, path: str, extra: dict) -> str:
            body = {**params, **extra}
            url = self.base + path
            r = await self.api.call(
                name,
                "POST",
                path,
                data=body,
                headers={"X-Twilio-Signature": validator.compute_signature(url, body)},
            )
            text = r.body.decode("utf-8", "replace")
            if r.ok and "<Response" not in text:
                self.stats.error(name, "not TwiML", text[:100], request=False)
            return text if r.ok else ""

        text = await post("POST /voice/twilio/incoming", "/voice/twilio/incoming", {})
        for digits in self.rng.choice(SCRIPTS):
            await asyncio.sleep(self.rng.uniform(0.8, 1.6))  # the caller listens, then presses keys
            match = ACTION.search(text)
            if match is None:
                break
            text = await post("POST /voice/twilio/gather", unescape(match.group(1)), {"Digits": digits})
        for queue_time in (5, 25):
            await asyncio.sleep(self.rng.uniform(0.8, 1.6))
            await post("POST /voice/twilio/wait", "/voice/twilio/wait", {"QueueTime": str(queue_time)})
        await post(
            "POST /voice/twilio/status",
            "/voice/twilio/status",
            {"CallStatus": "completed", "CallDuration": "40", "SequenceNumber": "3"},
        )

    def make_email(self, kind: str = "") -> Email:
        self.email_n += 1
        n = self.email_n
        stored = [e for e in self.emails if e.stored and e.kind == "new"]
        roll = {"new": 1.0, "reply": 0.2}.get(kind, self.rng.random())
        if stored and roll < 0.08:
            original = self.rng.choice([e for e in self.emails if e.stored])
            return Email(original.mid, "redelivery", original.raw, original.sender, original.parent)
        mid = f"soak.{self.run_tag}.{n}@mail.example"
        if stored and roll < 0.30:
            parent = self.rng.choice(stored)
            raw = _plain(
                parent.sender,
                "回复：充值问题",
                f"补充一下：订单号 {n}。\r\n\r\n在 2026年12月1日 10:00，OK钱包客服 写道：\r\n> 请提供截图。",
                mid,
                extra=[f"In-Reply-To: <{parent.mid}>", f"References: <{parent.mid}>"],
            )
            return Email(mid, "reply", raw, parent.sender, parent.mid)
        k = self.rng.randrange(400)  # many senders: the per-sender limit is 30 an hour
        sender = f"客户{k} <soak{k}.{self.run_tag}@mail.example>"
        body = self.rng.choice(_BODIES).format(n=self.rng.randint(10, 9999))
        charset, cte = self.rng.choice(
            [("utf-8", "8bit"), ("gbk", "quoted-printable"), ("gb18030", "base64")]
        )
        raw = _plain(sender, self.rng.choice(_SUBJECTS), body, mid, charset=charset, cte=cte)
        return Email(mid, "new", raw, sender)

    def _smtp_send(self, email: Email) -> tuple[bool, str]:
        with smtplib.SMTP("127.0.0.1", self.cluster.smtp_port, timeout=30) as smtp:
            envelope_from = email.sender.rsplit("<", 1)[-1].rstrip(">")
            refused = smtp.sendmail(envelope_from, [SUPPORT_ADDRESS], email.raw)
            return not refused, str(refused or "")

    async def email(self, kind: str = "") -> None:
        email = self.make_email(kind)
        t0 = time.perf_counter()
        try:
            ok, detail = await asyncio.to_thread(self._smtp_send, email)
        except (OSError, smtplib.SMTPException) as exc:
            self.stats.error("SMTP DATA (mail receiver)", type(exc).__name__, str(exc))
            return
        if ok:
            self.stats.ok("SMTP DATA (mail receiver)", (time.perf_counter() - t0) * 1000)
            if email.kind != "redelivery":
                email.stored = True
            self.emails.append(email)
        else:
            self.stats.error("SMTP DATA (mail receiver)", "refused", detail)

    # --- bad input ---

    async def bad_input(self) -> None:
        ip = f"10.66.{self.rng.randrange(4)}.{self.rng.randrange(1, 250)}"
        kinds = [
            "json",
            "oversize",
            "forged_notify",
            "forged_twilio",
            "flood",
            "burst",
            "amount",
            "ws_frames",
        ]
        kind = self.rng.choice(kinds)
        expect = {
            "json": (400, 422),
            "oversize": (413,),
            "forged_notify": (401,),
            "forged_twilio": (403,),
            "flood": (401, 429),
            "burst": (401, 429),
            "amount": (422,),
            "ws_frames": (),
        }[kind]
        name = f"bad input: {kind}"
        if kind == "ws_frames":
            await self.bad_frames()
            return
        if kind == "burst":
            # 20 password guesses at once from one address: the per-address limit answers 429 cheaply.
            results = await asyncio.gather(
                *(
                    self.api.call(
                        name,
                        "POST",
                        "/api/v1/auth/token",
                        json_body={
                            "identifier": f"139{self.rng.randrange(10**8):08d}",
                            "password": "Guess-1",
                        },
                        ip="10.67.1.1",
                        expect=expect,
                    )
                    for _ in range(20)
                )
            )
            self.stats.refused[kind] += sum(1 for r in results if r.ok)
            return
        if kind == "json":
            r = await self.api.call(
                name,
                "POST",
                "/api/v1/auth/token",
                data=b'{"identifier": "13900000000", "password": ',
                headers={"Content-Type": "application/json"},
                ip=ip,
                expect=expect,
            )
        elif kind == "oversize":
            r = await self.api.call(
                name,
                "POST",
                "/api/v1/auth/signup/code",
                data=b'{"phone": "' + b"1" * (1_200_000) + b'"}',
                headers={"Content-Type": "application/json"},
                ip=ip,
                expect=expect,
            )
        elif kind == "forged_notify":
            ref = self.rng.choice(self.payments).ref if self.payments else "T0000"
            body = json.dumps(
                {
                    "id": secrets.token_hex(12),
                    "event_type": "TRANSACTION.SUCCESS",
                    "resource": {"out_trade_no": ref, "amount_fen": 1, "trade_state": "SUCCESS"},
                }
            ).encode()
            r = await self.api.call(
                name,
                "POST",
                "/wallet/notify/sandbox/",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Wechatpay-Timestamp": str(int(time.time())),
                    "Wechatpay-Nonce": secrets.token_hex(16),
                    "Wechatpay-Signature": secrets.token_urlsafe(256),
                    "Wechatpay-Serial": "SANDBOX-1",
                },
                expect=expect,
            )
        elif kind == "forged_twilio":
            r = await self.api.call(
                name,
                "POST",
                "/voice/twilio/incoming",
                data={"CallSid": "CA" + secrets.token_hex(16), "From": "+8613700000000"},
                headers={"X-Twilio-Signature": secrets.token_urlsafe(20)},
                expect=expect,
            )
        elif kind == "flood":
            flood_ip = f"10.67.0.{self.rng.randrange(1, 4)}"  # a few addresses guessing passwords
            r = await self.api.call(
                name,
                "POST",
                "/api/v1/auth/token",
                json_body={"identifier": f"139{self.rng.randrange(10**8):08d}", "password": "Guess-123456"},
                ip=flood_ip,
                expect=expect,
            )
        else:
            c = self.pick(lambda c: True)
            if c is None:
                return
            r = await self.api.call(
                name,
                "POST",
                "/api/v1/wallet/deposits",
                json_body={"amount_fen": -5, "method": "card", "card_id": c.card_id},
                token=c.token,
                ip=c.ip,
                expect=expect,
            )
        if r.ok:
            self.stats.refused[kind] += 1

    async def bad_frames(self) -> None:
        """An anonymous visitor's socket sends garbage: each frame is refused, the socket stays open."""
        name = "bad input: ws_frames"
        ws_base = self.base.replace("http://", "ws://")
        ws = await _connect(
            f"{ws_base}/ws/chat/?visitor={secrets.token_urlsafe(18)}", [("Origin", self.base)]
        )
        if ws is None:
            self.stats.error(name, "connect failed")
            return
        want = ["bad_frame", "unknown_type", "frame_too_large"]
        got: list[str] = []
        t0 = time.perf_counter()
        try:
            await ws.send("this is not JSON")
            await ws.send(json.dumps({"type": "no-such-frame"}))
            await ws.send(json.dumps({"type": "message", "text": "x" * 20_000, "client_id": "big"}))
            deadline = time.monotonic() + 15
            while len(got) < len(want) and time.monotonic() < deadline:
                frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                if frame.get("type") == "error":
                    got.append(frame.get("code"))
            await ws.send(json.dumps({"type": "ping"}))  # still open and answering
            while json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") != "pong":
                pass
        except Exception as exc:  # noqa: BLE001 - closed or timed out: not refused cleanly
            self.stats.error(name, type(exc).__name__, f"got {got}")
            return
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
        if got == want:
            self.stats.ok(name, (time.perf_counter() - t0) * 1000)
            self.stats.refused["ws_frames"] += 3
        else:
            self.stats.error(name, "wrong errors", f"got {got}")

    # --- the schedule ---

    async def healthz_loop(self, stop: asyncio.Event) -> None:
        interval = 1.0 / HEALTHZ_RATE
        nxt = time.monotonic()
        while not stop.is_set():
            self.spawn(self.api.call("GET /healthz (baseline)", "GET", "/healthz"), "healthz")
            nxt += interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    async def arrivals(self, kind: str, rate: float, stop: asyncio.Event) -> None:
        if rate <= 0:
            return
        rng = random.Random(f"{self.args.seed}-{kind}")
        func = getattr(self, kind)
        while not stop.is_set():
            await asyncio.sleep(rng.expovariate(rate))
            if not stop.is_set():
                self.spawn(func(), kind)

    async def progress(self, stop: asyncio.Event, t_end: float) -> None:
        last_req, last_t, last_stats = 0, time.monotonic(), self.stats
        cpu0, wall0 = time.process_time(), time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.args.progress)
            now = time.monotonic()
            s = self.stats
            if s is not last_stats:
                last_req, last_stats = 0, s
            rps = (s.requests - last_req) / max(now - last_t, 1e-6)
            last_req, last_t = s.requests, now
            cpu = (time.process_time() - cpu0) / max(now - wall0, 1e-6) * 100
            chats = sum(1 for c in self.chats if not c.done)
            log(
                f"{self.phase:<8} {now - self.started:5.0f}/{t_end - self.started:.0f} s  "
                f"requests {s.requests:,} ({rps:.1f}/s)  errors {s.total_errors():,}  "
                f"customers {len(self.customers)}  chats open {chats}  emails {len(self.emails)}  "
                f"in flight {len(self.inflight)}  generator CPU {cpu:.0f}%"
            )

    async def kill_and_restart(self, at: float) -> None:
        # A long conversation in progress across the kill, so the chat's resume protocol is exercised.
        await asyncio.sleep(max(0.0, at - 10 - time.monotonic()))
        self.spawn(self.chat(messages=20), "chat")
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        # The app process holding the most client connections (chat sockets live long), and a worker.
        conns = established_by_port()
        app = max(self.cluster.apps, key=lambda a: conns.get(a.port, 0))
        worker = self.cluster.workers[0]
        log(
            f"client connections per app process: {', '.join(f'{a.name} {conns.get(a.port, 0)}' for a in self.cluster.apps)}"
        )
        self.killed = [(app.name, app.pid, 0), (worker.name, worker.pid, 0)]
        log(f"SIGKILL {app.name} (pid {app.pid}) and {worker.name} (pid {worker.pid})")
        self.kill_at = time.time()
        await asyncio.to_thread(app.kill)
        await asyncio.to_thread(worker.kill)
        await asyncio.sleep(1.0)  # systemd's RestartSec=1
        app.start()
        worker.start()
        await asyncio.to_thread(app.wait_ready)
        await asyncio.to_thread(worker.wait_ready)
        # Back in the balancer's rotation once its /readyz is 200 (jieba and the index loaded).
        warmed = await self.wait_readyz(app)
        self.restart_ready_at = time.time()
        self.killed = [(app.name, self.killed[0][1], app.pid), (worker.name, self.killed[1][1], worker.pid)]
        log(
            f"restarted {app.name} (pid {app.pid}) and {worker.name} (pid {worker.pid}) "
            f"{self.restart_ready_at - self.kill_at:.1f} s after the kill"
            + ("" if warmed else " (its /readyz never said ready: measured anyway)")
        )
        # Like every process before the load: each kind of request once, then the memory baseline
        # is taken after --warmup seconds of the mix (bench's own steady state, not its cold start).
        await self.warm_app(self.cluster.apps.index(app), app)
        self.restart_warm_at = time.time()

    async def wait_readyz(self, app, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{app.port}/readyz"
        while time.monotonic() < deadline:
            try:
                async with self.api.session.get(url) as response:
                    if response.status == 200:
                        return True
            except Exception:  # noqa: S110 - still starting
                pass
            await asyncio.sleep(0.5)
        return False

    async def sandbox_modes(self, t0: float, duration: float) -> None:
        """A stretch mid-run where the channel sends every notification twice (must credit once)."""
        await asyncio.sleep(duration * 0.2)
        url = f"http://127.0.0.1:{self.cluster.sandbox_port}/sandbox/control"
        await self.api.call(
            "POST sandbox /sandbox/control", "POST", "", url=url, json_body={"notify": "duplicate"}
        )
        await asyncio.sleep(duration * 0.15)
        await self.api.call(
            "POST sandbox /sandbox/control", "POST", "", url=url, json_body={"notify": "normal"}
        )

    # --- the run ---

    async def run(self) -> dict:
        import aiohttp

        raise_nofile()
        connector = aiohttp.TCPConnector(force_close=True, limit=400)  # a connection per request: the
        # balancer picks a backend per connection, so this spreads the load the way nginx would
        timeout = aiohttp.ClientTimeout(total=30)
        args = self.args
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.api = Api(session, self.base, self)
            self.stats = self.warm_stats
            sampler = MemorySampler(self.cluster)
            sampler_stop = asyncio.Event()
            sampler_task = asyncio.ensure_future(sampler.run(sampler_stop))
            self.started = time.monotonic()
            self.phase = "warm-up"
            log(
                f"warm-up: {args.initial_customers} sign-ups, agents log in, then {args.warmup:.0f} s of the mix"
            )
            self.agents = [Agent(self, name) for name in args.agents]
            agent_tasks = [asyncio.ensure_future(a.run()) for a in self.agents]
            sem = asyncio.Semaphore(4)

            async def one_signup():
                async with sem:
                    await self.signup()

            await asyncio.gather(*(one_signup() for _ in range(args.initial_customers)))
            log(
                f"{len(self.customers)} customers ready; every app process serves each kind of request once ..."
            )
            await self.warm_processes()
            stop = asyncio.Event()
            rates = {k: v * args.rate / BASE_RATE for k, v in MIX.items()}
            gens = [asyncio.ensure_future(self.arrivals(k, r, stop)) for k, r in rates.items()]
            gens.append(asyncio.ensure_future(self.healthz_loop(stop)))
            warm_end = time.monotonic() + args.warmup
            prog = asyncio.ensure_future(self.progress(stop, warm_end + args.duration))
            await asyncio.sleep(max(0.0, warm_end - time.monotonic()))

            # measured phase
            self.stats = Stats()
            self.phase = "load"
            warm_wall = time.time()
            t0 = time.monotonic()
            cpu0 = time.process_time()
            log(
                f"load: {args.rate:.1f} operations/s for {args.duration:.0f} s (+ /healthz at {HEALTHZ_RATE:.0f}/s)"
            )
            extra = [asyncio.ensure_future(self.sandbox_modes(t0, args.duration))]
            if not args.no_kill:
                extra.append(asyncio.ensure_future(self.kill_and_restart(t0 + args.duration / 2)))
            await asyncio.sleep(max(0.0, t0 + args.duration - time.monotonic()))
            end_wall = time.time()
            load_cpu = time.process_time() - cpu0
            load_wall = time.monotonic() - t0
            stop.set()
            self.phase = "drain"
            for g in gens:
                g.cancel()
            await asyncio.gather(*extra, return_exceptions=True)
            log(f"load over; waiting for {len(self.inflight)} journeys in flight ...")
            deadline = time.monotonic() + 90
            while self.inflight and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            for task in list(self.inflight):
                task.cancel()
            for a in self.agents:
                a.stopping = True
            await asyncio.gather(*agent_tasks, return_exceptions=True)
            await prog
            sampler.sample()
            self.stats.notes["cancelled after the drain"] += len(self.inflight)
            settle = await self.settle()
            balances = await self.balances()
            sampler_stop.set()
            await sampler_task
        return {
            "warm_wall": warm_wall,
            "end_wall": end_wall,
            "load_cpu": load_cpu,
            "load_wall": load_wall,
            "sampler": sampler,
            "settle": settle,
            "balances": balances,
        }

    async def warm_processes(self) -> None:
        """Each app process, directly on its port, serves every kind of request once before the
        measured phase: lazy imports, the help-centre index and jieba's dictionaries load per process,
        and memory "after warm-up" should not count them as growth."""
        # The mail receiver too: a new message and a reply (parsing, threading, ticket, acknowledgement).
        for kind in ("new", "reply"):
            await self.email(kind)
        for i, app in enumerate(self.cluster.apps):
            await self.warm_app(i, app)

    async def warm_app(self, i: int, app) -> None:
        base = f"http://127.0.0.1:{app.port}"
        for path in (
            "/healthz",
            "/api/v1/kb/search?q=" + quote("充值没到账怎么办"),
            "/api/v1/kb/search?lang=en&q=" + quote("withdrawal failed"),
            "/help/search?q=" + quote("忘记支付密码"),
            "/help/",
        ):
            await self.api.call("warm-up: every process", "GET", "", url=base + path)
        if not self.customers:
            return
        c = self.customers[i % len(self.customers)]
        for path in ("/api/v1/wallet", "/api/v1/wallet/transactions?page=1", "/api/v1/me"):
            await self.api.call("warm-up: every process", "GET", "", url=base + path, token=c.token, ip=c.ip)
        await self.api.call(
            "warm-up: every process",
            "POST",
            "",
            url=base + "/api/v1/auth/token",
            json_body={"identifier": c.phone, "password": c.password, "device_id": c.device},
            ip=c.ip,
            expect=(201,),
        )
        await self.open_ticket(c, base)

    async def settle(self) -> dict:
        """Wait for every payment to reach a final state; those still pending are asked of the channel."""
        log(
            f"waiting for {len(self.payments)} payments to settle (the channel retries after 15, 15, 30 s) ..."
        )
        deadline = time.monotonic() + self.args.settle_timeout
        pending = list(self.payments)
        while pending and time.monotonic() < deadline:
            still = []
            for p in pending:
                r = await self.api.call(
                    "GET /api/v1/wallet/transactions/{ref}",
                    "GET",
                    f"/api/v1/wallet/transactions/{p.ref}",
                    token=p.customer.token,
                    ip=p.customer.ip,
                )
                status = r.json().get("status", "") if r.ok else ""
                if status in ("succeeded", "failed", "reversed"):
                    p.final = status
                else:
                    still.append(p)
            pending = still
            if pending:
                await asyncio.sleep(3)
        lost, unpaid = [], []
        for p in pending:
            kind = "pay/transactions" if p.kind == "deposit" else "payouts"
            r = await self.api.call(
                "GET sandbox /v3/…/out-trade-no/{ref}",
                "GET",
                "",
                url=f"http://127.0.0.1:{self.cluster.sandbox_port}/v3/{kind}/out-trade-no/{p.ref}",
            )
            state = r.json().get("trade_state", "?")
            if state in ("SUCCESS", "FAIL"):
                lost.append(f"{p.kind} {p.ref} channel {state}, ours pending")
            else:
                unpaid.append(f"{p.kind} {p.ref} channel {state}")
        finals = Counter(f"{p.kind}:{p.final or 'pending'}" for p in self.payments)
        return {"lost": lost, "unpaid": unpaid, "finals": dict(finals)}

    async def balances(self) -> dict:
        """Every wallet's balance equals what its records add up to (pending withdrawals hold money)."""
        mismatches, checked = [], 0
        for c in self.customers:
            r = await self.api.call("GET /api/v1/wallet", "GET", "/api/v1/wallet", token=c.token, ip=c.ip)
            if not r.ok:
                continue
            summary = r.json()
            total, page, pages = 0, 1, 1
            while page <= pages:
                r = await self.api.call(
                    "GET /api/v1/wallet/transactions",
                    "GET",
                    f"/api/v1/wallet/transactions?page={page}",
                    token=c.token,
                    ip=c.ip,
                )
                if not r.ok:
                    break
                data = r.json()
                pages = data["pages"]
                for t in data["items"]:
                    if t["kind"] in ("deposit", "transfer_in") and t["status"] == "succeeded":
                        total += t["amount_fen"]
                    elif t["kind"] == "withdrawal" and t["status"] in ("succeeded", "pending"):
                        total -= t["amount_fen"]
                    elif t["kind"] == "transfer_out" and t["status"] == "succeeded":
                        total -= t["amount_fen"]
                page += 1
            else:
                checked += 1
                if total != summary["available_fen"]:
                    mismatches.append(f"{c.phone}: wallet {summary['available_fen']} records {total}")
        return {"checked": checked, "mismatches": mismatches}

    # --- chat ---

    async def chat(self, messages: int = 0) -> None:
        c = self.pick(lambda c: not c.in_chat)
        if c is None:
            self.stats.notes["skip:chat"] += 1
            return
        c.in_chat = True
        chat = CustomerChat(self, c, messages or self.args.chat_messages)
        CHAT_LENGTH[chat.prefix] = chat.k
        self.chats.append(chat)
        try:
            await chat.run()
        finally:
            chat.done = True
            c.in_chat = False


class CustomerChat:
    """A customer on the app (token) who asks for a person and writes numbered messages."""

    def __init__(self, soak: Soak, customer: Customer, messages: int) -> None:
        self.soak, self.c, self.k = soak, customer, messages
        self.pid = ""
        self.status = ""
        self.ws = None
        self.max_seq = 0
        self.seen: set[int] = set()
        self.dup_deliveries = 0
        self.out_of_order = 0
        self.acks: dict[str, int] = {}
        self.replies: list[int] = []
        self.changed = asyncio.Event()
        self.reconnects = 0
        self.done = False
        self.failed = ""
        self.sent_at: dict[str, float] = {}
        self.prefix = f"{soak.run_tag}-{customer.n}-{len(soak.chats)}"
        self.reader: asyncio.Future | None = None

    def cid(self, i: int) -> str:
        return f"{self.prefix}-c{i}"

    async def connect(self) -> bool:
        soak = self.soak
        if self.pid:
            self.reconnects += 1
            soak.stats.notes["chat customer reconnects (resume with last_seq)"] += 1
        # The app's token in a header (a token in the query string would end up in access logs).
        query = f"?conversation={self.pid}&last_seq={self.max_seq}" if self.pid else ""
        ws_base = soak.base.replace("http://", "ws://")
        t0 = time.perf_counter()
        headers = [("Origin", soak.base), ("Authorization", f"Bearer {self.c.token}")]
        ws = await _connect(f"{ws_base}/ws/chat/{query}", headers, retries=8)
        if ws is None:
            soak.stats.error("WS /ws/chat/ connect", "failed after retries")
            return False
        soak.stats.ok("WS /ws/chat/ connect", (time.perf_counter() - t0) * 1000)
        self.ws = ws
        self.reader = asyncio.ensure_future(self.read(ws))
        return True

    async def read(self, ws) -> None:
        try:
            async for raw in ws:
                self.on_frame(json.loads(raw))
        except Exception:  # noqa: BLE001 - closed: the writer side reconnects
            pass
        finally:
            if self.ws is ws:
                self.ws = None
            self.changed.set()

    def on_frame(self, f: dict) -> None:
        t = f.get("type")
        if t == "started":
            self.pid, self.status = f["conversation"], f["status"]
        elif t == "welcome" and f.get("status"):
            self.status = f["status"]
        elif t == "status":
            self.status = f["status"]
        elif t == "ack" and f.get("client_id"):
            self.acks[f["client_id"]] = f["seq"]
        elif t == "message":
            seq = f["seq"]
            if f.get("ack") and f.get("client_id"):
                # The sender's own copy carries the acknowledgement (docs/chat.md "Acknowledgements").
                self.acks[f["client_id"]] = seq
            if seq in self.seen:
                self.dup_deliveries += 1
            elif seq < self.max_seq:
                self.out_of_order += 1
            self.seen.add(seq)
            self.max_seq = max(self.max_seq, seq)
            cid = f.get("client_id") or ""
            if f.get("sender") == "agent" and cid.startswith(self.prefix + "-a"):
                self.replies.append(int(cid[len(self.prefix) + 2 :]))
                sent = AGENT_SENT.pop(cid, None)
                if sent is not None:
                    self.soak.stats.ok("WS chat agent → customer", (time.monotonic() - sent) * 1000)
        self.changed.set()

    async def send(self, frame: dict) -> bool:
        for _ in range(3):
            if self.ws is None and not await self.connect():
                return False
            try:
                await self.ws.send(json.dumps(frame))
                return True
            except Exception:  # noqa: BLE001 - the socket died under us: reconnect, send again
                self.ws = None
        return False

    async def wait_for(self, cond, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not cond():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.ws is None:
                if not await self.connect():
                    await asyncio.sleep(1)
                    continue
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 1.0))
        return True

    async def run(self) -> None:
        soak, stats = self.soak, self.soak.stats
        if not await self.connect():
            self.failed = "connect"
            return
        if not await self.send({"type": "start", "topic": "deposit"}) or not await self.wait_for(
            lambda: bool(self.pid), 20
        ):
            self.failed = "start"
            stats.error("WS chat start", "no conversation", request=False)
            return
        await self.send({"type": "handoff"})
        if not await self.wait_for(lambda: self.status in ("active", "ended"), soak.args.chat_wait):
            self.failed = "not accepted"
            stats.error(
                "WS chat accepted by an agent", f"not within {soak.args.chat_wait:.0f} s", request=False
            )
            await self.send({"type": "end"})
            await self.close()
            return
        for i in range(self.k):
            cid = self.cid(i)
            frame = {
                "type": "message",
                "text": f"soak {i}：我的充值还没有到账，能帮我查一下吗？",
                "client_id": cid,
            }
            t_sent = time.monotonic()
            self.sent_at[cid] = t_sent
            CUSTOMER_SENT[cid] = t_sent
            # Like the app: keep the message and send it again (same client_id) until the server
            # acknowledges it, across reconnects, for up to a minute.
            acked = False
            give_up = time.monotonic() + 60
            while not acked and time.monotonic() < give_up:
                if await self.send(frame):
                    acked = await self.wait_for(lambda cid=cid: cid in self.acks, 8)
                if not acked:
                    await asyncio.sleep(1)
            if not acked:
                stats.error("WS chat message ack", "no ack within 60 s", request=False)
                continue
            stats.ok("WS chat message ack", (time.monotonic() - t_sent) * 1000)
            if not await self.wait_for(lambda i=i: i in self.replies, 30):
                stats.error("WS chat agent reply", "no reply in 30 s", request=False)
            await asyncio.sleep(soak.rng.uniform(0.5, 1.5))  # the customer reads and types
        if not await self.wait_for(lambda: self.status == "ended", 30):
            stats.error("WS chat ended by the agent", "not within 30 s", request=False)
        await self.close()

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


CUSTOMER_SENT: dict[str, float] = {}
CHAT_LENGTH: dict[
    str, int
] = {}  # chat prefix -> messages the customer writes (the agent ends after the last)
AGENT_SENT: dict[str, float] = {}


@dataclass
class AgentConv:
    pid: str
    next_i: int = 0
    max_seq: int = 0
    seen: set = field(default_factory=set)
    dup_deliveries: int = 0
    out_of_order: int = 0
    received: list = field(default_factory=list)
    ending: bool = False


class Agent:
    """A demo agent logged in on the console: takes the next customer, answers every message, ends."""

    def __init__(self, soak: Soak, username: str) -> None:
        self.soak, self.username = soak, username
        self.http = None
        self.active: dict[str, AgentConv] = {}
        self.done: dict[str, AgentConv] = {}
        self.pending: dict[str, dict] = {}
        self.ws = None
        self.stopping = False
        self.capacity = 3
        self.wake = asyncio.Event()
        self.reconnects = 0

    def csrf(self) -> str:
        for cookie in self.http.cookie_jar:
            if cookie.key == "csrftoken":
                return cookie.value
        return ""

    def cookie_header(self) -> str:
        return "; ".join(f"{c.key}={c.value}" for c in self.http.cookie_jar)

    async def post_form(self, name: str, path: str, data: dict) -> Resp:
        return await self.soak.api.call(
            name,
            "POST",
            path,
            data={**data, "csrfmiddlewaretoken": self.csrf()},
            headers={"Referer": self.soak.base + path},
            session=self.http,
            expect=(302,),
        )

    async def login(self) -> bool:
        api = self.soak.api
        for _ in range(5):
            r = await api.call("GET /accounts/login/", "GET", "/accounts/login/", session=self.http)
            if r.ok:
                r = await self.post_form(
                    "POST /accounts/login/",
                    "/accounts/login/",
                    {"identifier": self.username, "password": DEMO_PASSWORD},
                )
                if r.ok:
                    return True
            await asyncio.sleep(2)
        return False

    async def run(self) -> None:
        import aiohttp

        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(force_close=True),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        try:
            if not await self.login():
                self.soak.stats.error("agent login", self.username, request=False)
                return
            accepter = asyncio.ensure_future(self.accept_loop())
            while not (self.stopping and not self.active):
                await self.session()
                if not (self.stopping and not self.active):
                    self.reconnects += 1
                    self.soak.stats.notes["chat agent reconnects"] += 1
                    await asyncio.sleep(0.5)
            accepter.cancel()
        finally:
            await self.http.close()

    async def session(self) -> None:
        soak = self.soak
        ws_base = soak.base.replace("http://", "ws://")
        t0 = time.perf_counter()
        ws = await _connect(
            f"{ws_base}/ws/chat/agent/", [("Origin", soak.base), ("Cookie", self.cookie_header())], retries=8
        )
        if ws is None:
            soak.stats.error("WS /ws/chat/agent/ connect", "failed after retries")
            await asyncio.sleep(1)
            return
        soak.stats.ok("WS /ws/chat/agent/ connect", (time.perf_counter() - t0) * 1000)
        self.ws = ws
        try:
            for conv in self.active.values():  # resume what this agent handles
                await ws.send(
                    json.dumps({"type": "watch", "conversation": conv.pid, "last_seq": conv.max_seq})
                )
            for frame in list(self.pending.values()):  # replies not acknowledged: same client_id again
                await ws.send(json.dumps(frame))
            self.wake.set()
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    if self.stopping and not self.active:
                        return
                    continue
                await self.on_frame(json.loads(raw))
        except Exception:  # noqa: BLE001 - the socket closed (its app process died): reconnect
            pass
        finally:
            self.ws = None
            with contextlib.suppress(Exception):
                await ws.close()

    async def on_frame(self, f: dict) -> None:
        t = f.get("type")
        if t == "queue_changed":
            self.wake.set()
        elif t == "ack" and f.get("client_id"):
            self.pending.pop(f["client_id"], None)
        elif t == "status" and f.get("status") in ("ended", "offline"):
            conv = self.active.pop(f.get("conversation"), None)
            if conv is not None:
                self.done[conv.pid] = conv
            self.wake.set()
        elif t == "message":
            if f.get("ack") and f.get("client_id"):
                # Our own reply coming back with its acknowledgement (docs/chat.md
                # "Acknowledgements"): stored, nothing to resend after a reconnect. Without this
                # every reconnect resent every reply so far, and the server's per-connection
                # rate limit refused the new ones among them (a soak chat missed one reply).
                self.pending.pop(f["client_id"], None)
            conv = self.active.get(f.get("conversation"))
            if conv is None:
                return
            seq = f["seq"]
            if seq in conv.seen:
                conv.dup_deliveries += 1
                return
            if seq < conv.max_seq:
                conv.out_of_order += 1
            conv.seen.add(seq)
            conv.max_seq = max(conv.max_seq, seq)
            cid = f.get("client_id") or ""
            if f.get("sender") != "customer" or "-c" not in cid:
                return
            i = int(cid.rsplit("-c", 1)[1])
            sent = CUSTOMER_SENT.pop(cid, None)
            if sent is not None:
                self.soak.stats.ok("WS chat customer → agent", (time.monotonic() - sent) * 1000)
            conv.received.append(i)
            if i != conv.next_i:
                conv.out_of_order += 1
            conv.next_i = max(conv.next_i, i + 1)
            reply_cid = cid.rsplit("-c", 1)[0] + f"-a{i}"
            frame = {
                "type": "message",
                "conversation": conv.pid,
                "text": f"A{i} 您好，已为您查询，请稍候。",
                "client_id": reply_cid,
            }
            self.pending[reply_cid] = frame
            AGENT_SENT[reply_cid] = time.monotonic()
            await self.ws.send(json.dumps(frame))
            if i == CHAT_LENGTH.get(cid.rsplit("-c", 1)[0], 0) - 1 and not conv.ending:
                conv.ending = True
                asyncio.ensure_future(self.end(conv))

    async def end(self, conv: AgentConv) -> None:
        # The last answer first (stored before the chat ends), then End: the transcript becomes a ticket.
        deadline = time.monotonic() + 30
        while any(k.endswith(f"-a{conv.next_i - 1}") for k in self.pending) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for _ in range(5):
            r = await self.post_form(
                "POST /console/chat/{id}/end/", f"/console/chat/{conv.pid}/end/", {"category": "deposit"}
            )
            if r.ok:
                break
            await asyncio.sleep(1)
        self.done[conv.pid] = self.active.pop(conv.pid, conv)

    async def accept_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 3.0)
            self.wake.clear()
            if self.stopping or self.ws is None:
                continue
            if len(self.active) < self.capacity:
                r = await self.post_form("POST /console/chat/next/", "/console/chat/next/", {})
                if r.ok and r.headers.get("Location", "").rstrip("/").endswith("/console/chat"):
                    continue  # nobody waiting
                await self.sync_mine()

    async def sync_mine(self) -> None:
        """The console's "My chats" list is the truth about what this agent accepted (races included)."""
        r = await self.soak.api.call("GET /console/chat/", "GET", "/console/chat/", session=self.http)
        if not r.ok:
            return
        found = MINE_RE.search(r.body.decode("utf-8", "replace"))
        mine = set(CHAT_LINK_RE.findall(found.group(0))) if found else set()
        for pid in mine - set(self.active) - set(self.done):
            self.active[pid] = AgentConv(pid)
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    await self.ws.send(json.dumps({"type": "watch", "conversation": pid, "last_seq": 0}))


# --- the database checks (a child process with Django set up) ------------------------------------


def db_check(path: str) -> int:
    import django

    django.setup()
    from django.db.models import Count

    from okwallet.chat.models import Conversation, Message
    from okwallet.helpdesk.models import Ticket, TicketMessage
    from okwallet.mail.ingest import normalise_message_id
    from okwallet.mail.models import RawMessage

    data = json.loads(Path(path).read_text())
    out: dict = {}
    # emails: every Message-ID we got a 250 for is stored exactly once and filed correctly
    keys = {m["mid"]: "mid:" + normalise_message_id(m["mid"]) for m in data["emails"]}
    rows: dict[str, list] = defaultdict(list)
    for key, status, number, reason in RawMessage.objects.filter(
        idempotency_key__in=set(keys.values())
    ).values_list("idempotency_key", "status", "ticket_number", "status_reason"):
        rows[key].append((status, number, reason))
    problems = []
    ticket_of: dict[str, str] = {}
    unique = list({m["mid"]: m for m in data["emails"]}.values())
    for m in unique:
        got = rows.get(keys[m["mid"]], [])
        if len(got) != 1:
            problems.append(f"{m['mid']}: stored {len(got)} times")
            continue
        status, number, reason = got[0]
        if status != "processed" or not number:
            problems.append(f"{m['mid']}: {status} {reason[:80]} ticket {number or '-'}")
        ticket_of[m["mid"]] = number
    new_numbers = [ticket_of.get(m["mid"]) for m in data["emails"] if m["kind"] == "new"]
    shared = [n for n, k in Counter(new_numbers).items() if n and k > 1]
    misthreaded = [
        m["mid"]
        for m in data["emails"]
        if m["kind"] == "reply" and ticket_of.get(m["mid"]) != ticket_of.get(m["parent"])
    ]
    email_tickets = Ticket.objects.filter(
        channel="email", source_ref__in=[keys[m["mid"]] for m in data["emails"] if m["kind"] == "new"]
    ).count()
    out["emails"] = {
        "sent": len(data["emails"]),
        "unique": len(keys),
        "stored_once": len(keys) - sum(1 for p in problems if "stored" in p),
        "problems": problems[:20],
        "new": len(new_numbers),
        "new_tickets": email_tickets,
        "tickets_shared_by_new_mails": shared[:20],
        "replies": sum(1 for m in data["emails"] if m["kind"] == "reply"),
        "replies_misthreaded": misthreaded[:20],
        "reply_messages_on_tickets": TicketMessage.objects.filter(
            source_ref__in=[keys[m["mid"]] for m in data["emails"] if m["kind"] == "reply"]
        ).count(),
    }
    # chats: each customer message once in the database, one ticket per ended chat
    chats = []
    for pid in data["chats"]:
        conv = Conversation.objects.filter(public_id=pid).first()
        if conv is None:
            chats.append({"pid": pid, "problem": "no such conversation"})
            continue
        per_client = Counter(
            Message.objects.filter(conversation=conv)
            .exclude(client_id="")
            .values_list("client_id", flat=True)
        )
        chats.append(
            {
                "pid": pid,
                "status": conv.status,
                "client_ids": len(per_client),
                "stored_twice": sum(1 for v in per_client.values() if v > 1),
                "tickets": Ticket.objects.filter(channel="chat", source_ref=f"chat:{pid}").count(),
                "seq_gaps": _seq_gaps(Message, conv),
            }
        )
    out["chats"] = chats
    dup = (
        Ticket.objects.exclude(source_ref="")
        .values("channel", "source_ref")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    # requests opened through the API: each 201 is exactly one ticket (no source ref to dedupe on)
    api = {"created": 0, "once": 0, "missing": [], "twice": [], "unknown_found": 0, "unknown": 0}
    for marker, state in data["api_tickets"].items():
        n = Ticket.objects.filter(channel="api", subject__endswith=marker).count()
        if state == "created":
            api["created"] += 1
            if n == 1:
                api["once"] += 1
            elif n == 0:
                api["missing"].append(marker)
            else:
                api["twice"].append(marker)
        elif state == "unknown":
            api["unknown"] += 1
            api["unknown_found"] += n
            if n > 1:
                api["twice"].append(marker)
        elif n:
            api["twice"].append(f"{marker} refused but stored {n}")
    out["api_tickets"] = api
    out["duplicate_ticket_refs"] = dup
    out["tickets_total"] = Ticket.objects.count()
    print(json.dumps(out))
    return 0


def _seq_gaps(Message, conv) -> int:  # noqa: N803 - the model class
    seqs = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("seq", flat=True))
    return sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1) + (
        1 if seqs and seqs[0] != 1 else 0
    )


# --- the report ------------------------------------------------------------------------------------


def report(soak: Soak, cluster: Cluster, res: dict, db: dict, verify: dict) -> bool:
    args, stats = soak.args, soak.stats
    sampler: MemorySampler = res["sampler"]
    kill_lo = soak.kill_at - 1 if soak.kill_at else 0
    kill_hi = (soak.restart_ready_at + args.kill_window) if soak.kill_at else 0
    in_window = Counter(n for t, n in stats.error_times if kill_lo <= t <= kill_hi)
    print()
    print("== per endpoint (measured phase) ==")
    health = stats.lat.get("GET /healthz (baseline)", [])
    h50, h99 = percentile(health, 50), percentile(health, 99)
    print(
        f"{'endpoint':<42} {'ok':>6} {'errors':>6} {'kill':>5} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p99 ms*':>8} {'p99/hz':>6}"
    )
    names = sorted(set(stats.lat) | set(stats.errors))
    endpoints = {}
    for name in names:
        lat = stats.lat.get(name, [])
        calm = [
            ms for ms, t in zip(lat, stats.lat_at.get(name, []), strict=True) if not kill_lo <= t <= kill_hi
        ]
        p50, p99, p99_calm = percentile(lat, 50), percentile(lat, 99), percentile(calm, 99)
        ratio = p99 / h99 if lat and h99 and not math.isnan(h99) else float("nan")
        endpoints[name] = {
            "ok": len(lat),
            "errors": stats.errors.get(name, 0),
            "errors_kill": in_window.get(name, 0),
        }
        endpoints[name].update({"p50_ms": p50, "p99_ms": p99, "p99_ms_outside_kill": p99_calm})
        print(
            f"{name[:42]:<42} {len(lat):>6} {stats.errors.get(name, 0):>6} {in_window.get(name, 0):>5} "
            f"{p50:>8.1f} {p99:>8.1f} {p99_calm:>8.1f} {ratio:>6.1f}"
        )
    print(
        "(kill = errors from 1 s before the SIGKILL to "
        f"{args.kill_window:.0f} s after the restarted processes were up; p99* = outside that window; "
        "p99/hz = p99 over the /healthz baseline's p99)"
    )
    slow = sorted(
        ((ms, t, n) for n in stats.lat for ms, t in zip(stats.lat[n], stats.lat_at[n], strict=True)),
        reverse=True,
    )[:8]
    t_kill = soak.kill_at or res["end_wall"]
    print("slowest: " + "; ".join(f"{n} {ms / 1000:.1f} s at kill{t - t_kill:+.0f} s" for ms, t, n in slow))
    print()
    print("errors by kind:")
    for name in sorted(stats.error_kinds):
        kinds = ", ".join(f"{k} ×{v}" for k, v in stats.error_kinds[name].most_common(5))
        print(f"  {name}: {kinds}")
    for line in stats.samples[:15]:
        print(f"  sample: {line}")
    if stats.refused:
        print("bad input refused cleanly: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.refused.items())))
    if stats.notes:
        print("notes: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.notes.items())))
    if soak.journey_errors:
        print(f"soak journeys that raised (bugs in the generator): {dict(soak.journey_errors)}")
        for tb in soak.tracebacks[:3]:
            print(tb)

    # memory
    print()
    window = args.mem_window
    print(f"== memory (lowest RSS within {window:.0f} s windows; peak during the load) and CPU ==")
    warm_t, end_t = res["warm_wall"], res["end_wall"]
    mem_rows = []
    for child in cluster.children:
        restarted = any(k[0] == child.name for k in soak.killed) and soak.restart_ready_at
        note = ""
        if restarted:
            # The new process's own warm-up, as for the others before the load: each kind of request
            # once (warm_app), then --warmup seconds of the mix. With less than two minutes of load
            # left after that there is no steady state to measure growth against.
            t_warm = (soak.restart_warm_at or soak.restart_ready_at) + args.warmup
            warm = sampler.floor_kb(child.name, t_warm - window, t_warm, pid=child.pid)
            note = f"  (restarted: baseline {t_warm - soak.restart_ready_at:.0f} s after it was ready and warmed)"
            if end_t - t_warm < 120:
                note = f"  (restarted {end_t - soak.restart_ready_at:.0f} s before the end: no steady state, no target)"
        else:
            warm = sampler.floor_kb(child.name, warm_t - window, warm_t)
        end = sampler.floor_kb(child.name, end_t - window, end_t)
        peak = sampler.peak_kb(child.name, warm_t, end_t) or 0
        growth = (end - warm) / warm * 100 if warm and end else float("nan")
        cpu = sampler.cpu_between(child.name, warm_t, end_t)
        judged = not (
            restarted and end_t - ((soak.restart_warm_at or soak.restart_ready_at) + args.warmup) < 120
        )
        mem_rows.append((child.name, warm, end, growth, judged, cpu))
        warm_text = f"{(warm or 0) / 1024:7.1f} MB" if judged else "      —   "
        growth_text = f"{growth:+6.1f}%" if judged else "     — "
        print(
            f"  {child.name:<9} pid {child.pid:>7}  after warm-up {warm_text}  "
            f"end {((end or 0) / 1024):7.1f} MB  growth {growth_text}  peak {peak / 1024:7.1f} MB  "
            f"CPU {cpu / res['load_wall'] * 100:5.1f}%" + note
        )
    with open(soak.cluster.run_dir / "memory.csv", "w") as fh:
        fh.write("process,unix_time,pid,rss_kb,cpu_s\n")
        for name, rows in sampler.series.items():
            for t, pid, kb, cpu in rows:
                fh.write(f"{name},{t:.1f},{pid},{kb},{cpu:.2f}\n")
    gen_cpu = res["load_cpu"] / res["load_wall"] * 100
    print(f"  generator (this process) CPU {gen_cpu:.0f}% of one core during the load")

    # checks
    print()
    print("== end checks ==")
    em = db.get("emails", {})
    chats_db = {c["pid"]: c for c in db.get("chats", [])}
    chat_bad = []
    conv_checked = 0
    agent_convs = {}
    for a in soak.agents:
        agent_convs.update(a.done)
        agent_convs.update(a.active)
    for chat in soak.chats:
        if not chat.pid or chat.failed:
            continue
        conv_checked += 1
        ac = agent_convs.get(chat.pid)
        row = chats_db.get(chat.pid, {})
        problems = []
        if chat.replies != list(range(chat.k)):
            problems.append(f"customer got replies {chat.replies}")
        if chat.dup_deliveries or chat.out_of_order:
            problems.append(f"customer dup {chat.dup_deliveries} out of order {chat.out_of_order}")
        if ac is None:
            problems.append("no agent handled it")
        else:
            if ac.received != list(range(chat.k)):
                problems.append(f"agent got {ac.received}")
            if ac.dup_deliveries or ac.out_of_order:
                problems.append(f"agent dup {ac.dup_deliveries} out of order {ac.out_of_order}")
        if row.get("stored_twice") or row.get("seq_gaps"):
            problems.append(f"db stored twice {row.get('stored_twice')} seq gaps {row.get('seq_gaps')}")
        if row.get("tickets") != 1:
            problems.append(f"{row.get('tickets')} tickets")
        if problems:
            chat_bad.append(f"{chat.pid}: " + "; ".join(problems))
    chats_failed = [c for c in soak.chats if c.failed]
    settle = res["settle"]
    balances = res["balances"]
    total_req = stats.requests
    outside = sum(1 for t, n in stats.error_times if not (kill_lo <= t <= kill_hi))
    err_rate = outside / max(total_req, 1) * 100
    chat_msgs = sum(len(c.replies) for c in soak.chats)
    print(
        f"  ledger_verify: {'clean' if verify['ledger'] == 0 else 'DRIFT'}; audit_verify: {'intact' if verify['audit'] == 0 else 'BROKEN'}"
    )
    print(
        f"  emails: {em.get('sent', 0)} accepted by SMTP ({em.get('unique', 0)} Message-IDs, "
        f"{em.get('new', 0)} new → {em.get('new_tickets', 0)} tickets, {em.get('replies', 0)} replies, "
        f"redeliveries {em.get('sent', 0) - em.get('unique', 0)}); stored once {em.get('stored_once', 0)}/{em.get('unique', 0)}"
    )
    for p in em.get("problems", [])[:10] + em.get("replies_misthreaded", [])[:10]:
        print(f"    email problem: {p}")
    print(
        f"  chats: {len(soak.chats)} started, {conv_checked} reached an agent, {len(chats_failed)} did not "
        f"({Counter(c.failed for c in chats_failed)}); {chat_msgs} answers delivered; problems {len(chat_bad)}"
    )
    for line in chat_bad[:10]:
        print(f"    chat problem: {line}")
    print(
        f"  payments: {settle['finals']}; lost callbacks {len(settle['lost'])}; unpaid at the channel {len(settle['unpaid'])}"
    )
    for line in settle["lost"][:10]:
        print(f"    lost: {line}")
    print(
        f"  money calls retried with their Idempotency-Key: {soak.money_retries} "
        f"(answered from the stored result: {soak.money_replayed}); outcome still unknown: {soak.ambiguous_money}"
    )
    print(
        f"  wallets equal to their records: {balances['checked'] - len(balances['mismatches'])}/{balances['checked']}"
    )
    for line in balances["mismatches"][:10]:
        print(f"    wallet: {line}")
    api_t = db.get("api_tickets", {})
    print(
        f"  tickets: {db.get('tickets_total')} in all; duplicate (channel, source) refs "
        f"{db.get('duplicate_ticket_refs')}; opened by API {api_t.get('created', 0)} → stored once "
        f"{api_t.get('once', 0)}, missing {api_t.get('missing', [])[:5]}, twice {api_t.get('twice', [])[:5]}; "
        f"cut off {api_t.get('unknown', 0)} ({api_t.get('unknown_found', 0)} of them stored)"
    )
    print(
        f"  requests {total_req:,} in {res['load_wall']:.0f} s ({total_req / res['load_wall']:.1f}/s); errors "
        f"{stats.total_errors()} ({sum(in_window.values())} in the kill window, {outside} outside = {err_rate:.2f}%)"
    )
    if soak.killed:
        print(f"  killed and restarted: {', '.join(f'{n} pid {a} → {b}' for n, a, b in soak.killed)}")
    print(f"  baseline /healthz through the balancer: p50 {h50:.1f} ms, p99 {h99:.1f} ms")

    all_ok = True

    def target(name, measured, goal, passed):
        nonlocal all_ok
        all_ok &= bool(passed)
        print(f"TARGET {name} {measured} {goal} {'PASS' if passed else 'FAIL'}")

    print()
    target(
        "soak_load_seconds",
        f"{res['load_wall']:.0f}",
        f">={args.duration:.0f}",
        res["load_wall"] >= args.duration - 1,
    )
    target("ledger_verify_clean", int(verify["ledger"] == 0), 1, verify["ledger"] == 0)
    target("audit_verify_intact", int(verify["audit"] == 0), 1, verify["audit"] == 0)
    stored_ok = (
        em.get("unique", 0) > 0 and em.get("stored_once") == em.get("unique") and not em.get("problems")
    )
    target("emails_stored_once", f"{em.get('stored_once', 0)}/{em.get('unique', 0)}", "all", stored_ok)
    threaded_ok = (
        not em.get("replies_misthreaded")
        and not em.get("tickets_shared_by_new_mails")
        and em.get("new_tickets") == em.get("new")
    )
    target(
        "emails_one_ticket_each_replies_threaded",
        f"{em.get('new_tickets', 0)}/{em.get('new', 0)},{em.get('replies', 0) - len(em.get('replies_misthreaded', []))}/{em.get('replies', 0)}",
        "all",
        threaded_ok,
    )
    target(
        "chat_in_order",
        f"{conv_checked - len(chat_bad)}/{conv_checked}",
        "all",
        conv_checked > 0 and not chat_bad,
    )
    target("chats_answered", f"{conv_checked}/{len(soak.chats)}", "all", soak.chats and not chats_failed)
    dup_tickets = (
        db.get("duplicate_ticket_refs", 0)
        + len(api_t.get("twice", []))
        + len(em.get("tickets_shared_by_new_mails", []))
        + sum(1 for c in db.get("chats", []) if c.get("tickets", 0) > 1)
    )
    target("duplicate_tickets", dup_tickets, 0, bool(db) and dup_tickets == 0)
    target(
        "api_tickets_stored_once",
        f"{api_t.get('once', 0)}/{api_t.get('created', 0)}",
        "all",
        api_t.get("created", 0) > 0 and api_t.get("once") == api_t.get("created"),
    )
    target("lost_callbacks", len(settle["lost"]), 0, not settle["lost"])
    target(
        "wallets_match_records",
        f"{balances['checked'] - len(balances['mismatches'])}/{balances['checked']}",
        "all",
        balances["checked"] > 0 and not balances["mismatches"],
    )
    # Server errors: 5xx except 503, which says "busy or restarting, try again" (the app's when the
    # database is out of reach, the balancer's while no app process is up) and counts as an error.
    app_5xx = sum(
        v for n in stats.error_kinds.values() for k, v in n.items() if k[:1] == "5" and k[:3] != "503"
    )
    target("server_errors_5xx_except_503", app_5xx, 0, app_5xx == 0)
    target("error_rate_pct_outside_kill_window", f"{err_rate:.2f}", "<=1", err_rate <= 1.0)
    # Bad input cut off by the kill (no app process to refuse it) is not counted either way.
    bad_wrong = sum(
        1 for t, n in stats.error_times if n.startswith("bad input") and not kill_lo <= t <= kill_hi
    )
    bad_total = sum(stats.refused.values()) + bad_wrong
    target(
        "bad_input_refused_cleanly",
        f"{sum(stats.refused.values())}/{bad_total}",
        "all",
        bad_total > 0 and bad_wrong == 0,
    )
    if not args.no_kill:
        target(
            "killed_and_restarted",
            len([k for k in soak.killed if k[2]]),
            2,
            len([k for k in soak.killed if k[2]]) == 2,
        )
    for name, _warm, _end, growth, judged, _cpu in mem_rows:
        if judged:
            target(
                f"memory_growth_pct_{name}", f"{growth:.1f}", "<=10", not math.isnan(growth) and growth <= 10
            )
    print(f"BASELINE healthz_p99_ms {h99:.1f}")
    (soak.cluster.run_dir / "report.json").write_text(
        json.dumps(
            {
                "args": {k: v for k, v in vars(args).items() if isinstance(v, int | float | str | list)},
                "endpoints": endpoints,
                "memory": {
                    n: {"after_warmup_kb": w, "end_kb": e, "growth_pct": g} for n, w, e, g, _j, _c in mem_rows
                },
                "db": db,
                "settle": settle,
                "balances": balances,
                "killed": soak.killed,
                "generator_cpu_pct": gen_cpu,
            },
            default=str,
            indent=1,
        )
    )
    return all_ok


# --- main ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="quick run: 60 s at rate 3, 15 s warm-up")
    ap.add_argument("--duration", type=float, help="seconds of measured load (default 600; --small 60)")
    ap.add_argument(
        "--warmup", type=float, help="seconds of the mix before measuring (default 60; --small 15)"
    )
    ap.add_argument(
        "--rate",
        type=float,
        help=f"operations per second of the whole mix (default {BASE_RATE:.0f}; --small 3)",
    )
    ap.add_argument("--app-procs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--initial-customers", type=int, help="sign-ups before the load (default 30; --small 10)")
    ap.add_argument("--agents", default="agent1,agent2", help="demo agents who answer chats")
    ap.add_argument("--chat-messages", type=int, default=5, help="customer messages per chat")
    ap.add_argument("--chat-wait", type=float, default=90.0, help="seconds a customer waits for an agent")
    ap.add_argument("--max-inflight", type=int, default=120)
    ap.add_argument("--settle-timeout", type=float, default=90.0)
    ap.add_argument(
        "--kill-window", type=float, default=10.0, help="seconds after the restart still counted as the kill"
    )
    ap.add_argument("--mem-window", type=float, help="seconds over which the lowest RSS is taken")
    ap.add_argument("--progress", type=float, default=5.0)
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument(
        "--phone-block", type=int, default=70, help="two digits after 139 in the customers' numbers"
    )
    ap.add_argument(
        "--db-pool", type=int, help="OKWALLET_DB_POOL_SIZE of every process (default: the app's, 10)"
    )
    ap.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/okw_soak")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    ap.add_argument("--keep", action="store_true", help="keep the database, Redis data and run directory")
    ap.add_argument("--db-check", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.db_check:
        return db_check(args.db_check)
    args.duration = args.duration or (60.0 if args.small else 600.0)
    args.warmup = args.warmup if args.warmup is not None else (15.0 if args.small else 60.0)
    args.rate = args.rate or (3.0 if args.small else BASE_RATE)
    args.initial_customers = args.initial_customers or (10 if args.small else 30)
    args.mem_window = args.mem_window or (10.0 if args.small else 30.0)
    args.agents = [a for a in args.agents.split(",") if a]
    if not args.database_url.startswith("postgres"):
        ap.error("--database-url must be PostgreSQL (the production shape)")

    run_dir = Path(tempfile.mkdtemp(prefix="okw-soak-"))
    cluster = Cluster(args, run_dir)
    log(
        f"soak: {args.duration:.0f} s at {args.rate:.1f} ops/s after {args.warmup:.0f} s warm-up; "
        f"{os.cpu_count()} cores; run directory {run_dir}"
    )

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    ok = False
    try:
        cluster.prepare()
        cluster.start()
        soak = Soak(args, cluster)
        res = asyncio.run(soak.run())
        log("end checks: ledger_verify, audit_verify, database ...")
        verify = {
            "ledger": cluster.manage("ledger_verify", check=False, capture=True).returncode,
            "audit": cluster.manage("audit_verify", check=False, capture=True).returncode,
        }
        check_in = run_dir / "check.json"
        check_in.write_text(
            json.dumps(
                {
                    "emails": [{"mid": e.mid, "kind": e.kind, "parent": e.parent} for e in soak.emails],
                    "chats": [c.pid for c in soak.chats if c.pid and not c.failed],
                    "api_tickets": soak.api_tickets,
                }
            )
        )
        out = subprocess.run(
            [PY, __file__, "--db-check", str(check_in)],
            cwd=ROOT,
            env=cluster.env,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            print(out.stderr[-3000:])
        db = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}
        ok = report(soak, cluster, res, db, verify)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        log("stopping the cluster ...")
        cluster.stop()
        results = ROOT / "var" / "soak" / time.strftime("%Y%m%d-%H%M%S")
        results.mkdir(parents=True, exist_ok=True)
        for name in ("report.json", "memory.csv"):
            if (run_dir / name).exists():
                shutil.copy(run_dir / name, results / name)
        shutil.copytree(cluster.logs, results / "logs", dirs_exist_ok=True)
        log(f"results: {results} (report.json, memory.csv, the processes' logs)")
        if args.keep or not ok:
            log(
                f"kept for inspection: run directory {run_dir}, database {args.database_url}, {args.redis_url}"
            )
        else:
            cluster.drop()
            shutil.rmtree(run_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
