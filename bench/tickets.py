"""Ticket list, full-text search and dashboard under an open-loop load, at 10,000 and 1,000,000 tickets.

    .venv/bin/python bench/tickets.py            # full: 10k then 1M tickets, 200 req/s for 20 s each
    .venv/bin/python bench/tickets.py --small    # quick: 2k then 20k tickets, 50 req/s for 5 s
    options: --database-url postgres://postgres@127.0.0.1:5432/okw_bench_hd --rate R --seconds S
             --sizes 10000,1000000 --keep (reuse the data of an earlier run)

One PostgreSQL database (created, migrated, filled with COPY: Chinese and English subjects and
messages with their jieba tokens, 1.5 messages per ticket). For each size: the app runs under
uvicorn (2 workers) on a free port; an asyncio generator sends requests at a fixed rate whatever
the answers do (open loop: latency is measured from the moment a request was *due*, so a stall
shows up instead of hiding; at most 20 in flight so a shared PostgreSQL keeps its connections),
a third each to

  list       GET /api/v1/tickets?view=all            (keyset page of 25, newest first)
  search     GET /api/v1/tickets?view=all&q=<word>   (jieba tokens, simple tsvector + GIN)
  dashboard  GET /api/v1/helpdesk/dashboard          (30-day figures; cached 60 s per process)

and the dashboard's uncached computation is timed directly as well. The baseline is the same
figures at the small size, measured in the same run; the ratio shows the growth.
Ends with ``TARGET <name> <measured> <goal> PASS|FAIL`` lines (at the largest size).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
PY = sys.executable

SUBJECTS = [
    (
        "deposit",
        "银行卡充值未到账",
        "今天上午用银行卡充值{n}元，银行已经扣款但钱包余额没有变化，请帮忙查询。",
    ),
    (
        "deposit",
        "Deposit not credited",
        "I topped up {n} yuan by bank card this morning but my balance did not change.",
    ),
    ("withdrawal", "提现一直处理中", "昨天晚上提现{n}元到银行卡，到现在还显示处理中，什么时候能到账？"),
    ("withdrawal", "Withdrawal stuck", "My withdrawal of {n} yuan has been processing for two days."),
    ("transfer", "转账对方没有收到", "我给朋友转账{n}元，显示成功但是对方说没有收到。"),
    ("security", "收到异地登录提醒", "凌晨收到异地登录短信，不是我本人操作，请帮忙冻结账户。"),
    ("password", "忘记支付密码", "换了手机号收不到验证码，无法重置支付密码，怎么办？"),
    ("account_closure", "申请注销账户", "不再使用了，想注销账户，余额{n}元已经提现。"),
    ("complaint", "投诉客服处理太慢", "提现问题反映了三次都没有解决，要求给出书面说明。"),
    ("other", "发票怎么开", "How do I get an invoice for the service fee of {n} yuan?"),
]
REPLIES = [
    "您好，已为您向渠道发起查询，请耐心等待。",
    "Thanks, we are checking with the bank.",
    "请提供交易详情截图。",
]
SEARCH_WORDS = ["充值", "提现", "转账", "密码", "注销", "invoice", "冻结", "银行卡 到账", "withdrawal"]
QUEUE_OF = {
    "deposit": "payments",
    "withdrawal": "payments",
    "transfer": "payments",
    "security": "security",
    "password": "security",
    "account_closure": "account",
    "complaint": "complaints",
    "other": "general",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.time() - started, 1e-6)
    sys.stdout.write(
        f"\r  {label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} ({rate:,.0f}/s)"
    )
    sys.stdout.flush()
    if done >= total:
        sys.stdout.write("\n")


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("OKWALLET_VAR_DIR", "/tmp/okw-hd-bench")
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "okwallet.settings"
    import django

    django.setup()


def ensure_database(database_url: str, keep: bool) -> None:
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not keep:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([PY, str(ROOT / "manage.py"), "migrate", "-v0"], check=True, env=os.environ.copy())


def prepare_rows():
    from okwallet.helpdesk.search import tokens_text

    pool = []
    for category, subject, body in SUBJECTS:
        for n in (50, 100, 200, 500, 1000):
            text = body.format(n=n)
            pool.append((category, subject, text, tokens_text(subject, text)))
    return pool


def fill(target: int, *, rng: random.Random) -> int:
    """Add tickets (and their messages) with COPY until there are ``target``. Returns the count."""
    from django.db import connection

    from okwallet.helpdesk.models import Ticket
    from okwallet.helpdesk.services import queues_ensure

    queues = {code: q.pk for code, q in queues_ensure().items()}
    have = Ticket.objects.count()
    if have >= target:
        return have
    pool = prepare_rows()
    now = datetime.now(tz=UTC)
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM helpdesk_ticket")
        next_id = cur.fetchone()[0] + 1
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM helpdesk_ticketmessage")
        next_msg = cur.fetchone()[0] + 1
        cur.execute("DROP INDEX IF EXISTS hd_ticket_fts")
    raw = connection.connection  # psycopg 3 connection
    started = time.time()
    total = target - have
    batch = 20_000
    done = 0
    tcols = (
        "id, number, channel, source_ref, category, priority, status, subject, queue_id, requester_name, "
        "requester_email, requester_phone, tags, facts, created_at, updated_at, solved_at, "
        "first_response_due, first_responded_at, resolution_due, sla_remaining, sla_warned, sla_breached, "
        "breach_kinds, escalation_level, complaint_extension_reason, outcome, search_tokens"
    )
    mcols = "id, ticket_id, kind, public, channel, source_ref, body, body_html, created_at"
    while done < total:
        n = min(batch, total - done)
        tickets, msgs = io.StringIO(), io.StringIO()
        for _ in range(n):
            category, subject, body, toks = pool[rng.randrange(len(pool))]
            created = now - timedelta(seconds=rng.randrange(365 * 86400))
            solved = rng.random() < 0.85
            status = "closed" if solved else rng.choice(["new", "open", "pending", "on_hold"])
            first = created + timedelta(minutes=rng.randrange(5, 600))
            fr_due = created + timedelta(hours=4)
            res_due = created + timedelta(days=3)
            solved_at = (first + timedelta(hours=rng.randrange(1, 96))).isoformat() if solved else "\\N"
            tid = next_id
            next_id += 1
            number = f"OB{tid:014d}"  # bench rows: a prefix real numbers never have
            tickets.write(
                "\t".join(
                    [
                        str(tid),
                        number,
                        rng.choice(["web", "email", "chat", "phone", "api"]),
                        "",
                        category,
                        str(rng.choice([1, 2, 2, 2, 3, 4])),
                        status,
                        subject,
                        str(queues[QUEUE_OF[category]]),
                        "",
                        f"user{tid}@example.com",
                        "",
                        "[]",
                        "{}",
                        created.isoformat(),
                        created.isoformat(),
                        solved_at,
                        fr_due.isoformat(),
                        first.isoformat(),
                        res_due.isoformat(),
                        "{}",
                        "f",
                        "f",
                        "[]",
                        "0",
                        "",
                        "",
                        toks,
                    ]
                )
                + "\n"
            )
            msgs.write(f"{next_msg}\t{tid}\tcustomer\tt\tweb\t\t{body}\t\t{created.isoformat()}\n")
            next_msg += 1
            if rng.random() < 0.5:
                msgs.write(
                    f"{next_msg}\t{tid}\tagent\tt\tweb\t\t{rng.choice(REPLIES)}\t\t{first.isoformat()}\n"
                )
                next_msg += 1
        with raw.cursor() as cur:
            with cur.copy(f"COPY helpdesk_ticket ({tcols}) FROM STDIN") as copy:
                copy.write(tickets.getvalue())
            with cur.copy(f"COPY helpdesk_ticketmessage ({mcols}) FROM STDIN") as copy:
                copy.write(msgs.getvalue())
        raw.commit()
        done += n
        progress("tickets", done, total, started)
    print("  building the GIN index over jieba tokens ...", flush=True)
    t0 = time.time()
    with connection.cursor() as cur:
        cur.execute(
            "CREATE INDEX IF NOT EXISTS hd_ticket_fts ON helpdesk_ticket "
            "USING gin (to_tsvector('simple'::regconfig, search_tokens))"
        )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('helpdesk_ticket', 'id'), (SELECT MAX(id) FROM helpdesk_ticket))"
        )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('helpdesk_ticketmessage', 'id'), "
            "(SELECT MAX(id) FROM helpdesk_ticketmessage))"
        )
        cur.execute("VACUUM ANALYZE helpdesk_ticket")  # visibility map: index-only scans for the dashboard
        # Hint bits set once here, not by the first requests that read each page (this server runs
        # with autovacuum off; a production database's autovacuum would have done it)...
        cur.execute("VACUUM ANALYZE helpdesk_ticketmessage")
        # ... and the bulk load's dirty buffers written before the clock starts, as bench/ledger.py
        # and pgbench do: a checkpoint in the 20 s window competes with the requests for the disk.
        cur.execute("CHECKPOINT")
    print(f"  index + analyze {time.time() - t0:.1f}s", flush=True)
    return Ticket.objects.count()


def bench_user() -> str:
    from okwallet.accounts.models import ApiToken, User
    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.accounts.services import staff_create

    ensure_role_groups()
    user = User.objects.filter(username="bench_supervisor").first() or staff_create(
        username="bench_supervisor", password="Bench-Password-42", role="supervisor", display_name="bench"
    )
    _row, key = ApiToken.issue(user, "bench")
    return key


def start_server(port: int, workers: int, log=None) -> subprocess.Popen:
    """``log``: a file for the server's output (its access log), else it goes to ours."""
    env = os.environ.copy()
    env["PYTHONPATH"] = f"{ROOT / 'src'}:{ROOT / 'bench'}"
    env["DJANGO_SETTINGS_MODULE"] = "tickets_settings"  # connections closed per request (see there)
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "uvicorn",
            "okwallet.asgi:application",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
    )
    import urllib.request

    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise SystemExit("server did not start")
    return proc


def warm_up(base: str, token: str, workers: int) -> None:
    """Each worker loads jieba's dictionary and opens its database connection before we measure."""
    import urllib.parse
    import urllib.request

    for path in ["/api/v1/tickets?view=all", "/api/v1/tickets?view=all&q=充值", "/api/v1/helpdesk/dashboard"]:
        for _ in range(4 * workers):
            url = base + urllib.parse.quote(path, safe="/?=&")
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            try:
                urllib.request.urlopen(req, timeout=60).read()
            except OSError:
                pass


async def open_loop(base: str, token: str, *, rate: float, seconds: float, rng: random.Random) -> dict:
    import aiohttp

    kinds = ["list", "search", "dashboard"]
    results: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = {k: 0 for k in kinds}
    statuses: dict = {}
    headers = {"Authorization": f"Bearer {token}"}
    total = int(rate * seconds)
    # At most 20 requests in flight (and so at most 20 PostgreSQL connections on a shared server);
    # requests that find no free connection wait in the client, and that wait is in their latency.
    connector = aiohttp.TCPConnector(limit=20)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.2

        async def one(i: int) -> None:
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = kinds[i % 3]
            if kind == "list":
                url = f"{base}/api/v1/tickets?view=all&limit=25"
            elif kind == "search":
                url = f"{base}/api/v1/tickets?view=all&limit=25&q={rng.choice(SEARCH_WORDS)}"
            else:
                url = f"{base}/api/v1/helpdesk/dashboard"
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors[kind] += 1
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
            except Exception as exc:  # a timeout or refused connection counts as an error
                errors[kind] += 1
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
            results[kind].append((loop.time() - due) * 1000)

        tasks = [asyncio.create_task(one(i)) for i in range(total)]
        for k, task in enumerate(asyncio.as_completed(tasks), 1):
            await task
            if k % max(1, total // 20) == 0 or k == total:
                sys.stdout.write(f"\r  load {k:,}/{total:,} requests")
                sys.stdout.flush()
        sys.stdout.write("\n")
    return {
        k: {"p50": pct(v, 50), "p99": pct(v, 99), "n": len(v), "errors": errors[k]}
        for k, v in results.items()
    }


def service_times(base: str, token: str, *, n: int = 30) -> dict:
    """One request at a time (no queueing): what each endpoint costs the server by itself."""
    import urllib.parse
    import urllib.request

    paths = {
        "list": "/api/v1/tickets?view=all&limit=25",
        "search": "/api/v1/tickets?view=all&limit=25&q=",
        "dashboard": "/api/v1/helpdesk/dashboard",
    }
    out = {}
    rng = random.Random(7)
    for kind, path in paths.items():
        times = []
        for _ in range(n):
            url = base + path + (urllib.parse.quote(rng.choice(SEARCH_WORDS)) if kind == "search" else "")
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            t0 = time.perf_counter()
            urllib.request.urlopen(req, timeout=60).read()
            times.append((time.perf_counter() - t0) * 1000)
        out[kind] = {"p50": pct(times, 50), "p99": pct(times, 99)}
    return out


def _jiffies(pid: str) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def cpu_snapshot(server_pid: int) -> dict:
    """CPU seconds so far of the server (its workers), PostgreSQL's processes, this generator and
    the whole machine (busy time of every core), to say where a load phase's CPU went."""
    tick = os.sysconf("SC_CLK_TCK")
    server = postgres = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if int(entry.name) == server_pid or ppid == server_pid:
            server += _jiffies(entry.name)
        elif comm.startswith("postgres"):
            postgres += _jiffies(entry.name)
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for v in cpu[:8]) - int(cpu[3]) - int(cpu[4])  # all but idle and iowait
    return {
        "server": server / tick,
        "postgres": postgres / tick,
        "generator": time.process_time(),
        "machine": busy / tick,
        "wall": time.monotonic(),
    }


def cpu_delta(before: dict, after: dict, requests: int) -> dict:
    wall = after["wall"] - before["wall"]
    out = {k: round((after[k] - before[k]) / wall, 2) for k in ("server", "postgres", "generator", "machine")}
    out["server_ms_per_request"] = round((after["server"] - before["server"]) / requests * 1000, 2)
    out["postgres_ms_per_request"] = round((after["postgres"] - before["postgres"]) / requests * 1000, 2)
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def dashboard_cold_ms(repeat: int = 3) -> float:
    from okwallet.helpdesk.selectors import dashboard_stats

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        dashboard_stats(days=30, use_cache=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/okw_bench_hd")
    parser.add_argument("--rate", type=float)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--sizes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the finally blocks: stop our server
    sizes = [int(s) for s in (args.sizes or ("2000,20000" if args.small else "10000,1000000")).split(",")]
    rate = args.rate or (50 if args.small else 200)
    seconds = args.seconds or (5 if args.small else 20)
    rng = random.Random(5)
    print(f"bench/tickets.py  sizes={sizes} rate={rate}/s seconds={seconds} db={args.database_url}")
    print("machine: 2 cores shared with other work; generator, server and PostgreSQL on the same box")
    os.environ["DATABASE_URL"] = args.database_url
    ensure_database(args.database_url, args.keep)
    django_setup(args.database_url)
    token = bench_user()
    from django.db import connection

    table = {}
    for size in sorted(sizes):
        print(f"\n== {size:,} tickets")
        count = fill(size, rng=rng)
        connection.close()
        cold = dashboard_cold_ms()
        port = free_port()
        server_log = open(Path(tempfile.gettempdir()) / f"okw-bench-tickets-{size}.log", "w")  # noqa: SIM115
        server = start_server(port, args.workers, log=server_log)
        warm_up(f"http://127.0.0.1:{port}", token, args.workers)
        try:
            sequential = service_times(f"http://127.0.0.1:{port}", token)
            before = cpu_snapshot(server.pid)
            figures = asyncio.run(
                open_loop(f"http://127.0.0.1:{port}", token, rate=rate, seconds=seconds, rng=rng)
            )
            figures["cpu"] = cpu_delta(before, cpu_snapshot(server.pid), int(rate * seconds))
        finally:
            server_log.close()
            server.terminate()
            server.wait(timeout=20)
        figures["dashboard_uncached_ms"] = cold
        figures["sequential"] = sequential
        table[size] = figures
        print(f"  tickets={count:,}")
        for kind in ("list", "search", "dashboard"):
            f = figures[kind]
            print(
                f"  {kind:<10} p50 {f['p50']:7.1f} ms  p99 {f['p99']:7.1f} ms  n={f['n']} errors={f['errors']}"
            )
        print(f"  dashboard computed without cache: {cold:.0f} ms")
        c = figures["cpu"]
        print(
            f"  CPU during the load (cores of 2): server {c['server']}, PostgreSQL {c['postgres']}, "
            f"generator {c['generator']}, whole machine {c['machine']}; per request: server "
            f"{c['server_ms_per_request']} ms, PostgreSQL {c['postgres_ms_per_request']} ms"
        )
        for kind, f in sequential.items():
            print(f"  one at a time: {kind:<10} p50 {f['p50']:7.1f} ms  p99 {f['p99']:7.1f} ms")
    small, large = min(table), max(table)
    print("\nratio (largest / smallest size, p99):")
    for kind in ("list", "search", "dashboard"):
        a, b = table[small][kind]["p99"], table[large][kind]["p99"]
        print(f"  {kind:<10} {b:7.1f} ms / {a:7.1f} ms = {b / a if a else float('nan'):.2f}x")
    print(json.dumps({str(k): v for k, v in table.items()}))
    big = table[large]
    goals = {"list": 100, "search": 100, "dashboard": 500}
    for kind, goal in goals.items():
        measured = big[kind]["p99"]
        ok = measured < goal and big[kind]["errors"] == 0
        print(f"TARGET tickets_{kind}_p99_ms_at_{large} {measured:.1f} {goal} {'PASS' if ok else 'FAIL'}")
    cold = big["dashboard_uncached_ms"]
    print(
        f"TARGET tickets_dashboard_uncached_ms_at_{large} {cold:.0f} 500 {'PASS' if cold < 500 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
