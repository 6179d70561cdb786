"""Hotline IVR under load: an open-loop generator of signed Twilio webhooks against uvicorn.

    .venv/bin/python bench/ivr.py            # 50 concurrent calls, 100 webhook req/s, 30 s
    .venv/bin/python bench/ivr.py --small    # quick: 10 s

What it does:

1. Prepares a fresh SQLite database in a temporary directory (migrate) and starts uvicorn
   (``okwallet.asgi:application``) on a free port with a bench-only Twilio auth token.
2. Baseline: ``GET /healthz`` at the same rate for the same duration.
3. Load: ``--calls`` concurrent calls walk the whole menu (greeting → main menu → a branch:
   deposits with a transaction reference, security → person, an invalid key then complaints
   → queue → two wait announcements → hang-up status), each request freshly signed for its
   own CallSid with ``RequestValidator``. A call that finishes is replaced by a new one.

Open loop: every request has a scheduled send time (rate / calls apart within a call, the
calls phase-shifted); a request sent late because its predecessor was slow is measured from
its *scheduled* time, so server stalls show up in the latency instead of silently lowering
the offered load (no coordinated omission). Only 2xx answers whose body is TwiML
(``<Response>``) count as served; everything else is an error.

Ends with ``TARGET`` lines: p99 per webhook < 20 ms, errors = 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
TOKEN = "bench-auth-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


class Server:
    def __init__(self, var_dir: str, port: int, *, workers: int = 1, database_url: str = ""):
        self.var_dir = var_dir
        self.port = port
        self.workers = workers
        self.env = {
            **os.environ,
            "OKWALLET_VAR_DIR": var_dir,
            "DJANGO_SETTINGS_MODULE": "okwallet.settings",
            "TWILIO_AUTH_TOKEN": TOKEN,
            "OKWALLET_VOICE_HOURS_OVERRIDE": "open",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT / "src"),
        }
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.proc: subprocess.Popen | None = None

    def prepare(self) -> None:
        print("preparing a fresh database (migrate) ...", flush=True)
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env, check=True
        )

    def start(self) -> None:
        print(f"starting uvicorn on 127.0.0.1:{self.port} ...", flush=True)
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "okwallet.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "off",
                "--no-access-log",
                "--log-level",
                "warning",
                *(["--workers", str(self.workers)] if self.workers > 1 else []),
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("uvicorn exited during start-up") from None
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


ACTION = re.compile(r'<Gather action="([^"]+)"')


class Stats:
    def __init__(self):
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.by_kind: dict[str, list[float]] = {}

    def add(self, kind: str, ms: float, ok: bool) -> None:
        if ok:
            self.latencies_ms.append(ms)
            self.by_kind.setdefault(kind, []).append(ms)
        else:
            self.errors += 1


async def run_healthz(session, base: str, *, rate: float, duration: float, stats: Stats) -> None:
    start = time.perf_counter() + 0.2
    total = int(rate * duration)
    tasks = []

    async def one(scheduled: float):
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            async with session.get(base + "/healthz") as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
        except Exception:
            ok = False
        stats.add("healthz", (time.perf_counter() - scheduled) * 1000, ok)

    for i in range(total):
        tasks.append(asyncio.create_task(one(start + i / rate)))
    await asyncio.gather(*tasks)


SCRIPTS = [
    ["1", "20261201123456#"],  # deposits with a transaction reference
    ["2", "2"],  # security → a person
    ["7", "3"],  # an invalid key, then complaints (senior managers)
    ["9", "4"],  # English, then account closure
]


async def run_calls(session, base: str, *, calls: int, rate: float, duration: float, stats: Stats) -> int:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    interval = calls / rate  # seconds between two requests of one call
    t0 = time.perf_counter() + 0.5
    end = t0 + duration
    started = 0

    async def post(path: str, params: dict, scheduled: float, kind: str) -> str | None:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        url = base + path
        headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
        body = None
        try:
            async with session.post(url, data=params, headers=headers) as resp:
                text = await resp.text()
                ok = 200 <= resp.status < 300 and "<Response" in text
                body = text if ok else None
        except Exception:
            ok = False
        stats.add(kind, (time.perf_counter() - scheduled) * 1000, ok)
        return body

    async def caller(slot: int):
        nonlocal started
        scheduled = t0 + slot * (interval / calls)  # calls phase-shifted: a steady total rate
        n = 0
        while scheduled < end:
            started += 1
            sid = f"CA{slot:04d}{n:06d}{os.getpid():08d}".ljust(34, "0")
            n += 1
            base_params = {
                "CallSid": sid,
                "AccountSid": "AC" + "0" * 32,
                "From": f"+8613{slot:03d}{n % 100000:06d}",
                "To": "+864008206655",
                "CallStatus": "in-progress",
                "Direction": "inbound",
            }
            script = SCRIPTS[(slot + n) % len(SCRIPTS)]
            body = await post("/voice/twilio/incoming", base_params, scheduled, "incoming")
            for digits in script:
                scheduled += interval
                match = ACTION.search(body or "")
                if match is None:
                    break
                body = await post(
                    unescape(match.group(1)), {**base_params, "Digits": digits}, scheduled, "gather"
                )
            for queue_time in (5, 25):
                scheduled += interval
                await post(
                    "/voice/twilio/wait", {**base_params, "QueueTime": str(queue_time)}, scheduled, "wait"
                )
            scheduled += interval
            await post(
                "/voice/twilio/status",
                {**base_params, "CallStatus": "completed", "CallDuration": "40", "SequenceNumber": "3"},
                scheduled,
                "status",
            )
            scheduled += interval

    await asyncio.gather(*(caller(slot) for slot in range(calls)))
    return started


def report(name: str, stats: Stats) -> None:
    lat = stats.latencies_ms
    print(
        f"{name:<8} served={len(lat):>6} errors={stats.errors:>4} "
        f"p50={percentile(lat, 50):7.2f} ms p90={percentile(lat, 90):7.2f} ms "
        f"p99={percentile(lat, 99):7.2f} ms max={max(lat) if lat else float('nan'):7.2f} ms"
    )
    for kind, values in sorted(stats.by_kind.items()):
        if kind != name:
            print(
                f"    {kind:<9} n={len(values):>5} p50={percentile(values, 50):6.2f} p99={percentile(values, 99):6.2f} ms"
            )


async def main_async(args, base: str) -> tuple[Stats, Stats, int]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=args.calls + 20)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        print("warm-up ...", flush=True)
        warm = Stats()
        await run_calls(session, base, calls=5, rate=20, duration=3, stats=warm)
        await run_healthz(session, base, rate=50, duration=1, stats=Stats())
        print(f"baseline: GET /healthz at {args.rate:.0f} req/s for {args.duration:.0f} s ...", flush=True)
        health = Stats()
        await run_healthz(session, base, rate=args.rate, duration=args.duration, stats=health)
        report("healthz", health)
        print(
            f"load: {args.calls} concurrent calls, {args.rate:.0f} webhook req/s for {args.duration:.0f} s ...",
            flush=True,
        )
        ivr = Stats()
        calls = await run_calls(
            session, base, calls=args.calls, rate=args.rate, duration=args.duration, stats=ivr
        )
        report("ivr", ivr)
    return health, ivr, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="quick run (10 s)")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0, help="webhook requests per second in total")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load per phase")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1: SQLite has one writer)"
    )
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL URL of an empty database to use instead of SQLite"
    )
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 10.0 if args.small else 30.0
    var_dir = tempfile.mkdtemp(prefix="okw-ivr-bench-")
    server = Server(var_dir, free_port(), workers=args.workers, database_url=args.database_url)
    print(
        f"server: uvicorn, {args.workers} worker(s), {'PostgreSQL' if args.database_url else 'SQLite (WAL)'}"
    )
    try:
        server.prepare()
        server.start()
        health, ivr, calls = asyncio.run(main_async(args, f"http://127.0.0.1:{server.port}"))
    finally:
        server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    p99_h = percentile(health.latencies_ms, 99)
    p99_i = percentile(ivr.latencies_ms, 99)
    print(f"calls started: {calls}; ratio p99 ivr / p99 healthz = {p99_i / p99_h:.2f}x")
    print(
        f"ratio p50 ivr / p50 healthz = {percentile(ivr.latencies_ms, 50) / percentile(health.latencies_ms, 50):.2f}x"
    )
    print(f"TARGET ivr_webhook_p99_ms {p99_i:.2f} 20 {'PASS' if p99_i < 20 else 'FAIL'}")
    print(f"TARGET ivr_errors {ivr.errors} 0 {'PASS' if ivr.errors == 0 else 'FAIL'}")
    print(f"BASELINE healthz_p99_ms {p99_h:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
