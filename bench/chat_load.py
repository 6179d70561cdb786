"""Live-chat load benchmark: N customer sockets, agents answering, against two echo baselines.

    .venv/bin/python bench/chat_load.py            # full: 5,000 sockets, 500 msg/s
    .venv/bin/python bench/chat_load.py --small    # quick: 300 sockets, 100 msg/s
    options: --sockets N --rate R --seconds S --gen-procs G --redis URL --database-url URL

Servers (each its own process, one at a time, same machine, same run):
  raw       minimal echo server written with the ``websockets`` library (the baseline)
  echo      a bare Channels echo consumer on uvicorn (the stack the chat runs on)
  chat      the real chat (okwallet.asgi on uvicorn): customer frame → database write with a
            sequence number → channel layer → agent socket; with the embedded in-process layer
            and, when --redis is given (default: redis://127.0.0.1:6379/7 if reachable), channels-redis.

For each: connections held, latency p50/p99 at a fixed rate (echo: round trip; chat: one way
customer → agent), closed-loop throughput (msgs/s), memory per idle connection (server RSS
growth / sockets), and the load generator's CPU. The generator runs in its own processes.
Ends with ``TARGET <name> <measured> <goal> PASS|FAIL`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
PY = sys.executable


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except ValueError:
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- servers ---------------------------------------------------------------------------


def serve_raw(port: int) -> None:
    from websockets.asyncio.server import serve

    raise_nofile()

    async def echo(ws):
        async for msg in ws:
            await ws.send(msg)

    async def main():
        async with serve(echo, "127.0.0.1", port, backlog=8192, compression=None, max_queue=64):
            await asyncio.Future()

    asyncio.run(main())


def _django(env_overrides: dict) -> None:
    os.environ.update(env_overrides)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "okwallet.settings")
    import django

    django.setup()


def serve_channels_echo(port: int) -> None:
    raise_nofile()
    _django({})
    import uvicorn
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    class Echo(AsyncWebsocketConsumer):
        async def receive(self, text_data=None, bytes_data=None):
            await self.send(text_data=text_data)

    app = ProtocolTypeRouter({"websocket": URLRouter([path("ws/echo/", Echo.as_asgi())])})
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        ws=os.environ.get("OKW_BENCH_WS", "auto"),
        lifespan="off",
        log_level="warning",
        backlog=8192,
        ws_per_message_deflate=False,
    )


def serve_chat(port: int) -> None:
    raise_nofile()
    _django({})
    from django.conf import settings

    # The benchmark drives each socket harder than a person types; lift the per-connection limit.
    settings.OKWALLET_CHAT_RATE_PER_S = 10_000
    import uvicorn

    from okwallet.asgi import application

    if os.environ.get("OKW_BENCH_TRACE"):
        _install_server_trace(os.environ["OKW_BENCH_TRACE"])
    uvicorn.run(
        application,
        host="127.0.0.1",
        port=port,
        ws=os.environ.get("OKW_BENCH_WS", "auto"),
        lifespan="off",
        log_level="warning",
        backlog=8192,
        ws_per_message_deflate=False,
    )


def _install_server_trace(path: str) -> None:
    """Record, in the chat server, what can stall delivery: garbage collections, the writer's
    batches (with their commit), SQLite WAL checkpoints and event-loop lag; written to ``path``
    as JSON every second (wall-clock times, to line up with the generators' latency buckets)."""
    import gc
    import threading

    from okwallet.chat import writer as chat_writer

    trace = {"gc": [], "batch": [], "lag": [], "wal": []}
    gc_start: dict = {}

    def on_gc(phase, info):
        if phase == "start":
            gc_start["t"] = time.perf_counter()
            gc_start["wall"] = time.time()
        elif "t" in gc_start:
            took = time.perf_counter() - gc_start.pop("t")
            if took > 0.002 or info["generation"] == 2:
                trace["gc"].append((gc_start["wall"], took, info["generation"], info["collected"]))

    gc.callbacks.append(on_gc)
    original = chat_writer.ChatWriter.write_batch

    def write_batch(self, batch):
        wall, t = time.time(), time.perf_counter()
        try:
            return original(self, batch)
        finally:
            trace["batch"].append((wall, time.perf_counter() - t, len(batch)))

    chat_writer.ChatWriter.write_batch = write_batch

    from django.conf import settings

    db = settings.DATABASES["default"]
    wal = Path(str(db["NAME"]) + "-wal") if db["ENGINE"].endswith("sqlite3") else None

    def dump():
        # The WAL file shrinks only when it is truncated or deleted; a checkpoint that restarts it
        # is seen as the file's growth stopping while commits go on: we note shrinks only.
        last_wal = -1
        while True:
            time.sleep(0.05)
            if wal is not None:
                try:
                    size = wal.stat().st_size
                except OSError:
                    size = 0
                if size < last_wal:
                    trace["wal"].append((time.time(), last_wal, size))
                last_wal = size
            if int(time.time() * 20) % 20 == 0:
                Path(path).write_text(json.dumps(trace))

    threading.Thread(target=dump, daemon=True, name="bench-trace").start()

    async def lag_monitor():
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            late = time.perf_counter() - t - 0.01
            if late > 0.02:
                trace["lag"].append((time.time() - late, late))

    import uvicorn.server

    serve = uvicorn.server.Server.serve

    async def serve_with_monitor(self, *args, **kwargs):
        task = asyncio.ensure_future(lag_monitor())
        try:
            return await serve(self, *args, **kwargs)
        finally:
            task.cancel()

    uvicorn.server.Server.serve = serve_with_monitor


def timeline(lat_at: list, start: float, seconds: float, trace: dict | None, gen_gc: list) -> None:
    """Print delivery latency over time (per-second buckets: count, p50, p99, max; then the worst
    100 ms buckets) and, beside them, what the server and the generators were doing."""
    if not lat_at:
        return
    per_s: dict[int, list[float]] = {}
    per_100: dict[int, list[float]] = {}
    for sent_at, latency in lat_at:
        per_s.setdefault(int(sent_at - start), []).append(latency * 1000)
        per_100.setdefault(int((sent_at - start) * 10), []).append(latency * 1000)
    cells = []
    for sec in sorted(per_s):
        v = sorted(per_s[sec])
        cells.append(f"{sec:>3}s n={len(v):<4} p99={pct(v, 0.99):6.1f} max={v[-1]:6.1f}")
    log("latency by second of the fixed-rate phase (ms, by send time):")
    for i in range(0, len(cells), 3):
        print("    " + " | ".join(cells[i : i + 3]), flush=True)
    worst = sorted(per_100, key=lambda b: max(per_100[b]), reverse=True)[:6]
    log(
        "worst 100 ms buckets: "
        + ", ".join(
            f"t+{b / 10:.1f}s max {max(per_100[b]):.0f} ms (n={len(per_100[b])})" for b in sorted(worst)
        )
    )

    def near(events, fmt):
        out = [fmt(e) for e in events if start - 1 <= e[0] <= start + seconds + 2]
        return out[:40]

    if trace:
        batches = trace.get("batch", [])
        inrun = [b for b in batches if start <= b[0] <= start + seconds]
        if inrun:
            d = sorted(b[1] * 1000 for b in inrun)
            log(
                f"server writer: {len(inrun)} batches, {sum(b[2] for b in inrun)} messages, batch time "
                f"p50 {pct(d, 0.5):.1f} ms p99 {pct(d, 0.99):.1f} ms max {d[-1]:.1f} ms"
            )
        slow = near(
            [b for b in batches if b[1] > 0.02], lambda b: f"t{b[0] - start:+.2f}s {b[1] * 1000:.0f}ms/{b[2]}"
        )
        log(f"server writer batches > 20 ms: {', '.join(slow) or 'none'}")
        log(
            "server WAL restarts (checkpoints): "
            + (
                ", ".join(
                    near(
                        trace.get("wal", []),
                        lambda w: f"t{w[0] - start:+.2f}s {w[1] // 1024}→{w[2] // 1024} KB",
                    )
                )
                or "none"
            )
        )
        log(
            "server GC (gen 2, or > 2 ms): "
            + (
                ", ".join(
                    near(
                        trace.get("gc", []), lambda g: f"t{g[0] - start:+.2f}s gen{g[2]} {g[1] * 1000:.0f}ms"
                    )
                )
                or "none"
            )
        )
        log(
            "server event-loop lag > 20 ms: "
            + (
                ", ".join(near(trace.get("lag", []), lambda g: f"t{g[0] - start:+.2f}s {g[1] * 1000:.0f}ms"))
                or "none"
            )
        )
    if gen_gc:
        log(
            "generator GC (gen 2, or > 2 ms): "
            + (
                ", ".join(
                    near(sorted(gen_gc), lambda g: f"t{g[0] - start:+.2f}s gen{g[2]} {g[1] * 1000:.0f}ms")
                )
                or "none"
            )
        )


class ServerProc:
    def __init__(self, kind: str, env: dict):
        self.kind, self.port = kind, free_port()
        self.proc = subprocess.Popen([PY, __file__, f"--serve-{kind}", str(self.port)], env=env, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(0.3)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- chat fixtures ------------------------------------------------------------------------


def seed_chat(env: dict, sockets: int, per_agent: int, out: str) -> None:
    """In a child: migrate, create agents, active conversations (visitor keys) and agent sessions."""
    _django(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import secrets

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.accounts.services import staff_create
    from okwallet.chat.models import Conversation, Participant
    from okwallet.chat.selectors import visitor_hash
    from okwallet.core.timeutil import now_utc
    from okwallet.hours.models import Schedule

    ensure_role_groups()
    Schedule.objects.update_or_create(
        code="chat", defaults={"name_zh": "在线客服", "name_en": "Chat", "always_open": True}
    )
    n_agents = max(1, -(-sockets // per_agent))
    agents, cookies = [], []
    for i in range(n_agents):
        u = staff_create(
            username=f"bench{i}-{secrets.token_hex(3)}",
            password=secrets.token_urlsafe(12),
            role="agent",
            display_name=f"Agent {i}",
        )
        s = SessionStore()
        s[SESSION_KEY], s[BACKEND_SESSION_KEY] = str(u.pk), settings.AUTHENTICATION_BACKENDS[0]
        s[HASH_SESSION_KEY] = u.get_session_auth_hash()
        s.create()
        agents.append(u)
        cookies.append(s.session_key)
    keys, convs = [], []
    now = now_utc()
    rows = []
    for i in range(sockets):
        key = secrets.token_urlsafe(18)
        keys.append(key)
        rows.append(
            Conversation(
                visitor_hash=visitor_hash(key),
                status="active",
                agent=agents[i // per_agent],
                queued_at=now,
                accepted_at=now,
            )
        )
    Conversation.objects.bulk_create(rows, batch_size=1000)
    made = list(Conversation.objects.filter(visitor_hash__in=[visitor_hash(k) for k in keys]).order_by("id"))
    by_hash = {c.visitor_hash: c for c in made}
    parts = []
    for i, key in enumerate(keys):
        c = by_hash[visitor_hash(key)]
        convs.append(c.public_id)
        parts.append(Participant(conversation=c, role="customer"))
        parts.append(Participant(conversation=c, user=agents[i // per_agent], role="agent"))
    Participant.objects.bulk_create(parts, batch_size=2000)
    Path(out).write_text(
        json.dumps({"keys": keys, "convs": convs, "cookies": cookies, "per_agent": per_agent})
    )


# --- load generator ---------------------------------------------------------------------------


async def _connect(url, headers=None, retries=5):
    from websockets.asyncio.client import connect

    for attempt in range(retries):
        try:
            return await connect(
                url,
                additional_headers=headers or [],
                open_timeout=30,
                compression=None,
                max_queue=256,
                ping_interval=None,
            )
        except Exception:  # noqa: BLE001 - count failures, retry
            await asyncio.sleep(0.2 * (attempt + 1))
    return None


def gen_worker(job: dict, results) -> None:
    raise_nofile()
    asyncio.run(_gen(job, results))


async def _gen(job: dict, results) -> None:
    kind, port = job["kind"], job["port"]
    base = f"ws://127.0.0.1:{port}"
    origin = [("Origin", f"http://127.0.0.1:{port}")]
    lat: list[float] = []
    sent_ts: list[float] = []  # send time of each ``lat`` entry: the timeline (floats: no GC work)
    gen_gc: list[tuple] = []
    gc_t: dict = {}

    def on_gc(phase, info):
        if phase == "start":
            gc_t["t"], gc_t["wall"] = time.perf_counter(), time.time()
        elif "t" in gc_t:
            took = time.perf_counter() - gc_t.pop("t")
            if took > 0.002 or info["generation"] == 2:
                gen_gc.append((gc_t["wall"], took, info["generation"]))

    import gc

    gc.callbacks.append(on_gc)
    delivered = 0
    sent = 0
    conns = []
    agents = []
    stop_at = None
    # customers
    sem = asyncio.Semaphore(200)

    async def open_customer(i):
        async with sem:
            if kind == "chat":
                return await _connect(f"{base}/ws/chat/?visitor={job['keys'][i]}", origin)
            path = "/ws/echo/" if kind in ("echo", "channels-echo") else "/"
            return await _connect(base + path, origin)

    stage_at = job.get("stage_at") or 0
    conns = list(await asyncio.gather(*(open_customer(i) for i in job["slice"][:stage_at])))
    if stage_at:
        # memory curve: the parent reads the server's RSS here, then lets the rest connect
        results.put(("stage", job["gen"], sum(1 for c in conns if c is not None)))
        stage = Path(job["stage_sync"])
        while not stage.read_text().strip():
            await asyncio.sleep(0.05)
    conns += await asyncio.gather(*(open_customer(i) for i in job["slice"][stage_at:]))
    held = sum(1 for c in conns if c is not None)

    async def agent_reader(ws, answer_every: int):
        nonlocal delivered
        n = 0
        async for raw in ws:
            f = json.loads(raw)
            if f.get("type") == "message" and f.get("sender") == "customer":
                ts = float(f["text"].split(" ", 1)[0])
                lat.append(time.time() - ts)
                sent_ts.append(ts)
                delivered += 1
                n += 1
                if answer_every and n % answer_every == 0:  # agents answer some messages
                    await ws.send(
                        json.dumps(
                            {
                                "type": "message",
                                "conversation": f["conversation"],
                                "text": "好的，马上为您处理",
                                "client_id": f"a{time.time_ns()}",
                            }
                        )
                    )

    readers = []
    watching = 0
    if kind == "chat":
        watched = []
        for cookie, pids in job["agents"]:
            ws = await _connect(f"{base}/ws/chat/agent/", [*origin, ("Cookie", f"sessionid={cookie}")])
            if ws is None:
                continue
            for pid in pids:
                await ws.send(json.dumps({"type": "watch", "conversation": pid}))
            agents.append(ws)
            watched.append(len(pids))

        async def confirmed(ws, expected: int) -> int:
            # Each watch is answered by "watching" once the server has joined the agent to that
            # chat; messages sent before that reach the agent only through the watch's replay.
            # (A fixed sleep here let the measured phase start while a few hundred watches were
            # still queued in the server: their messages arrived seconds late, all at once —
            # the ~500 ms p99 of the first 5,000-socket runs.)
            got = 0
            while got < expected:
                if json.loads(await ws.recv()).get("type") == "watching":
                    got += 1
            return got

        counts = await asyncio.wait_for(
            asyncio.gather(*(confirmed(ws, k) for ws, k in zip(agents, watched, strict=True))),
            timeout=max(600, len(job["slice"]) * 0.4),
        )
        watching = sum(counts)
        readers = [asyncio.create_task(agent_reader(ws, job["answer_every"])) for ws in agents]

    async def customer_drain(ws):
        nonlocal delivered
        try:
            async for raw in ws:
                if kind != "chat":
                    ts = float(raw.split(" ", 1)[0])
                    lat.append(time.time() - ts)
                    sent_ts.append(ts)
                    delivered += 1
        except Exception:  # noqa: BLE001
            pass

    drains = [asyncio.create_task(customer_drain(ws)) for ws in conns if ws is not None]
    # The generator's own full collections (its sockets are ~1M tracked objects at 5,000) took
    # 1.6-2.6 s right at the start of the measured phase (lowest priority): they would be counted
    # as the server's latency. Its sockets live for the whole run: move them out of the collector.
    gc.collect()
    gc.freeze()
    results.put(("ready", job["gen"], held))
    if kind == "chat":
        print(
            f"[gen {job['gen']}] {held} customer sockets, {len(agents)} agents watching {watching} chats",
            flush=True,
        )
    # the parent writes the common start time once every generator holds its sockets
    sync = Path(job["sync"])
    while not sync.read_text().strip():
        await asyncio.sleep(0.05)
    job["start_at"] = float(sync.read_text())
    while time.time() < job["start_at"]:
        await asyncio.sleep(0.01)
    t0_cpu = time.process_time()
    live = [ws for ws in conns if ws is not None]
    if job["mode"] == "rate" and live:
        rate = job["rate"]
        stop_at = job["start_at"] + job["seconds"]
        interval = 1.0 / rate if rate else 1.0
        nxt = time.time()
        while time.time() < stop_at:
            ws = random.choice(live)
            frame = (
                json.dumps(
                    {"type": "message", "text": f"{time.time()} 你好", "client_id": f"c{sent}-{job['gen']}"}
                )
                if kind == "chat"
                else f"{time.time()} x"
            )
            try:
                await ws.send(frame)
                sent += 1
            except Exception:  # noqa: BLE001
                pass
            nxt += interval
            delay = nxt - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
    elif job["mode"] == "loop" and live:
        stop_at = job["start_at"] + job["seconds"]
        loopers = live[: job["loop_sockets"]]

        async def loop_one(ws, i):
            nonlocal sent, delivered
            # closed loop: the next frame goes when the previous one was answered (ack / echo)
            ws_iter = ws.__aiter__()
            while time.time() < stop_at:
                frame = (
                    json.dumps(
                        {"type": "message", "text": f"{time.time()} 循环", "client_id": f"l{i}-{sent}"}
                    )
                    if kind == "chat"
                    else f"{time.time()} y"
                )
                await ws.send(frame)
                sent += 1
                while True:
                    raw = await ws_iter.__anext__()
                    # chat: acknowledged by our own copy of the message ("ack": true) or an ack frame
                    if kind != "chat" or '"ack": true' in raw or '"type": "ack"' in raw:
                        if kind != "chat":
                            delivered += 1
                        break

        for t in drains:
            t.cancel()
        await asyncio.gather(*(loop_one(ws, i) for i, ws in enumerate(loopers)), return_exceptions=True)
    await asyncio.sleep(2.0)  # let late deliveries arrive
    cpu = time.process_time() - t0_cpu
    for t in drains + readers:
        t.cancel()
    results.put(
        (
            "done",
            job["gen"],
            {
                "held": held,
                "sent": sent,
                "delivered": delivered,
                "lat": lat,
                "lat_at": list(zip(sent_ts, lat, strict=True)) if job["mode"] == "rate" else [],
                "gen_gc": gen_gc,
                "cpu": cpu,
                "agents": len(agents),
            },
        )
    )
    for ws in live + agents:
        try:
            await ws.close()
        except Exception:  # noqa: BLE001
            pass


def run_load(
    kind,
    port,
    *,
    n,
    gen_procs,
    mode,
    rate=0.0,
    seconds=10.0,
    loop_sockets=0,
    fixtures=None,
    answer_every=5,
    server_pid=None,
    stage_fraction=0.0,
):
    """Spread n sockets over gen_procs processes; returns merged results.

    ``stage_fraction``: the generators first open that share of their sockets and wait while
    the server's RSS is read (``server_rss_kb_stage``, ``held_stage``), then open the rest."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = []
    slices = [list(range(g, n, gen_procs)) for g in range(gen_procs)]
    agent_jobs = [[] for _ in range(gen_procs)]
    if fixtures:
        per = fixtures["per_agent"]
        for a, cookie in enumerate(fixtures["cookies"]):
            pids = fixtures["convs"][a * per : (a + 1) * per]
            agent_jobs[a % gen_procs].append((cookie, pids))
    jobs = []
    for g in range(gen_procs):
        jobs.append(
            {
                "kind": kind,
                "port": port,
                "slice": slices[g],
                "gen": g,
                "mode": mode,
                "rate": rate / gen_procs,
                "seconds": seconds,
                "loop_sockets": max(1, loop_sockets // gen_procs),
                "keys": fixtures["keys"] if fixtures else [],
                "agents": agent_jobs[g],
                "answer_every": answer_every,
            }
        )
    # the start time is only known once every generator holds its sockets: pass it through a file
    sync = Path(tempfile.mkstemp(prefix="okw-chat-go-")[1])
    sync.write_text("")
    stage_sync = Path(tempfile.mkstemp(prefix="okw-chat-stage-")[1])
    stage_sync.write_text("")
    for job in jobs:
        job["sync"] = str(sync)
        job["stage_sync"] = str(stage_sync)
        job["stage_at"] = int(len(job["slice"]) * stage_fraction)
        p = ctx.Process(target=gen_worker, args=(job, results))
        p.start()
        procs.append(p)
    stage_rss, held_stage = 0, 0
    if stage_fraction:
        staged = 0
        while staged < gen_procs:
            tag, g, value = results.get(timeout=max(600, n * 0.4))
            if tag == "stage":
                staged += 1
                held_stage += value
        time.sleep(1.0)  # let the server settle
        stage_rss = rss_kb(server_pid) if server_pid else 0
        Path(jobs[0]["stage_sync"]).write_text("go")
    ready = 0
    held = 0
    while ready < gen_procs:
        # connecting is the slow part on a loaded machine: every chat socket costs database hops
        tag, g, value = results.get(timeout=max(600, n * 0.4))
        if tag == "ready":
            ready += 1
            held += value
    mem_kb = rss_kb(server_pid) if server_pid else 0
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    go = time.time() + 0.5
    sync.write_text(str(go))
    out = {
        "held": 0,
        "sent": 0,
        "delivered": 0,
        "lat": [],
        "lat_at": [],
        "gen_gc": [],
        "start_at": go,
        "cpu": 0.0,
        "gen_cpu": [],
        "server_rss_kb": mem_kb,
        "server_rss_kb_stage": stage_rss,
        "held_stage": held_stage,
    }
    done = 0
    while done < gen_procs:
        tag, g, value = results.get(timeout=600)
        if tag == "done":
            done += 1
            for k in ("held", "sent", "delivered"):
                out[k] += value[k]
            out["lat"] += value["lat"]
            out["lat_at"] += value["lat_at"]
            out["gen_gc"] += value["gen_gc"]
            out["gen_cpu"].append(value["cpu"])
    for p in procs:
        p.join(10)
    out["server_cpu_s"] = (cpu_seconds(server_pid) - cpu0) if server_pid else 0.0
    sync.unlink(missing_ok=True)
    stage_sync.unlink(missing_ok=True)
    return out


class _Skip(Exception):
    """--memory-only: the throughput runs are skipped."""


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def summarise(name, res, seconds):
    lat_ms = [x * 1000 for x in res["lat"]]
    rate = res["delivered"] / seconds if seconds else 0
    cpu = max(res["gen_cpu"] or [0]) / seconds * 100 if seconds else 0
    log(
        f"{name}: held {res['held']} sent {res['sent']} delivered {res['delivered']} "
        f"({rate:.0f}/s) p50 {pct(lat_ms, 0.5):.1f} ms p99 {pct(lat_ms, 0.99):.1f} ms "
        f"gen CPU max {cpu:.0f}% per process, server CPU {res['server_cpu_s'] / seconds * 100:.0f}%"
    )
    return {
        "held": res["held"],
        "rate": rate,
        "p50": pct(lat_ms, 0.5),
        "p99": pct(lat_ms, 0.99),
        "delivered": res["delivered"],
        "sent": res["sent"],
        "gen_cpu_pct": cpu,
    }


def idle_memory_per_conn(kind, env, n, gen_procs, fixtures=None):
    """RSS per idle socket, two ways, from one run on a fresh server: growth from the start
    over all n sockets ("from cold", the figure reported since the first run: it also holds
    what the first sockets make the process load once — a database connection and its page
    cache, translation catalogues, lazily imported modules — spread over n), and the slope
    between a third and all of the sockets ("per added socket": what one more costs). With
    thousands of sockets the two converge."""
    srv = ServerProc(kind, env)
    try:
        cold = rss_kb(srv.proc.pid)
        res = run_load(
            kind,
            srv.port,
            n=n,
            gen_procs=gen_procs,
            mode="idle",
            seconds=0,
            fixtures=fixtures,
            server_pid=srv.proc.pid,
            stage_fraction=1 / 3,
        )
        held, staged = res["held"], res["held_stage"]
        per_cold = (res["server_rss_kb"] - cold) / max(1, held)
        per = (res["server_rss_kb"] - res["server_rss_kb_stage"]) / max(1, held - staged)
        log(
            f"{kind}: {held} idle sockets, server RSS {cold} kB at start, {res['server_rss_kb_stage']} kB "
            f"with {staged}, {res['server_rss_kb']} kB with all = {per_cold:.1f} kB each from cold, "
            f"{per:.1f} kB per added socket"
        )
        return per_cold, per, held
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--sockets", type=int)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--gen-procs", type=int, default=2)
    ap.add_argument("--loop-sockets", type=int, default=100)
    ap.add_argument("--redis", default=None, help="Redis URL for the channels-redis run ('' to skip)")
    ap.add_argument("--database-url", default="", help="PostgreSQL for the chat server (default: SQLite)")
    ap.add_argument("--memory-only", action="store_true", help="only the idle-socket memory of each server")
    ap.add_argument(
        "--ws",
        default="auto",
        help="uvicorn WebSocket implementation for the Channels servers (auto = websockets-sansio, what the Procfile runs)",
    )
    ap.add_argument(
        "--servers",
        default="raw,channels-echo,chat",
        help="comma-separated subset of raw,channels-echo,chat (to look into one; ratios need all)",
    )
    ap.add_argument(
        "--layers",
        default="embedded,redis",
        help="chat layers to run: embedded,redis (ours), redis-stock (channels-redis' own pub/sub layer, "
        "for comparison: reported, no target)",
    )
    ap.add_argument("--skip-memory", action="store_true", help="skip the idle-memory runs")
    ap.add_argument("--no-timeline", action="store_true", help="skip the latency-over-time print-out")
    for kind in ("raw", "channels-echo", "chat"):
        ap.add_argument(f"--serve-{kind}", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_raw:
        return serve_raw(args.serve_raw) or 0
    if args.serve_channels_echo:
        return serve_channels_echo(args.serve_channels_echo) or 0
    if args.serve_chat:
        return serve_chat(args.serve_chat) or 0

    nofile = raise_nofile()
    n = args.sockets or (300 if args.small else 5000)
    rate = args.rate or (100.0 if args.small else 500.0)
    seconds = args.seconds or (8.0 if args.small else 20.0)
    redis_url = args.redis
    if redis_url is None:
        redis_url = "redis://127.0.0.1:6379/7"
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        except OSError:
            redis_url = ""
    log(
        f"chat_load: {n} sockets, {rate:.0f} msg/s for {seconds:.0f} s, {args.gen_procs} generator processes, "
        f"open files limit {nofile}; uvicorn --ws {args.ws}; machine: {os.cpu_count()} cores shared with other work"
    )
    var = Path(tempfile.mkdtemp(prefix="okw-chat-bench-"))
    base_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OKWALLET_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "okwallet.settings",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": "",
        "OKW_BENCH_WS": args.ws,
    }
    report = {}
    servers = set(args.servers.split(","))
    show_timeline = not args.no_timeline

    for kind in ("raw", "channels-echo"):
        if kind not in servers:
            continue
        log(f"— baseline {kind} —")
        srv = ServerProc(kind, base_env) if not args.memory_only else None
        try:
            if srv is None:
                raise _Skip
            res = run_load(
                kind.replace("channels-", ""),
                srv.port,
                n=n,
                gen_procs=args.gen_procs,
                mode="rate",
                rate=rate,
                seconds=seconds,
                server_pid=srv.proc.pid,
            )
            report[f"{kind}_rate"] = summarise(f"{kind} @ {rate:.0f}/s", res, seconds)
            if show_timeline:
                timeline(res["lat_at"], res["start_at"], seconds, None, res["gen_gc"])
            res = run_load(
                kind.replace("channels-", ""),
                srv.port,
                n=args.loop_sockets,
                gen_procs=args.gen_procs,
                mode="loop",
                loop_sockets=args.loop_sockets,
                seconds=min(seconds, 8),
                server_pid=srv.proc.pid,
            )
            report[f"{kind}_loop"] = summarise(f"{kind} closed loop", res, min(seconds, 8))
        except _Skip:
            pass
        finally:
            if srv is not None:
                srv.stop()
        if not args.skip_memory:
            report[f"{kind}_mem_kb"], report[f"{kind}_mem_kb_marginal"], _ = idle_memory_per_conn(
                kind, base_env, n, args.gen_procs
            )

    log("— chat: seeding agents and conversations —")
    layers = [("embedded", "")]
    if redis_url and not args.memory_only:
        layers += [("redis", redis_url), ("redis-stock", redis_url)]
    wanted = set(args.layers.split(","))
    layers = [(name, url) for name, url in layers if name in wanted and "chat" in servers]
    for layer, rurl in layers:
        env = {
            **base_env,
            "REDIS_URL": rurl,
            "OKWALLET_CHANNEL_LAYER": "stock" if layer == "redis-stock" else "",
        }
        fixtures_path = var / f"fixtures-{layer}.json"
        t0 = time.time()
        p = mp.get_context("spawn").Process(
            target=seed_chat, args=(env, n + args.loop_sockets, 100, str(fixtures_path))
        )
        p.start()
        p.join()
        fx = json.loads(fixtures_path.read_text())
        log(
            f"seeded {len(fx['keys'])} conversations, {len(fx['cookies'])} agents in {time.time() - t0:.0f} s"
        )
        main_fx = {
            "keys": fx["keys"][:n],
            "convs": fx["convs"][:n],
            "cookies": fx["cookies"][: -(-n // 100)],
            "per_agent": 100,
        }
        log(f"— chat ({layer} layer) —")
        loop_fx = {
            "keys": fx["keys"][n:],
            "convs": fx["convs"][n:],
            "cookies": fx["cookies"][-(-n // 100) :],
            "per_agent": 100,
        }
        if args.memory_only:
            report["chat_mem_kb"], report["chat_mem_kb_marginal"], _ = idle_memory_per_conn(
                "chat", env, n, args.gen_procs, fixtures=main_fx
            )
            continue
        trace_path = var / f"trace-{layer}.json"
        srv = ServerProc("chat", {**env, "OKW_BENCH_TRACE": str(trace_path)})
        try:
            res = run_load(
                "chat",
                srv.port,
                n=n,
                gen_procs=args.gen_procs,
                mode="rate",
                rate=rate,
                seconds=seconds,
                fixtures=main_fx,
                server_pid=srv.proc.pid,
            )
            report[f"chat_{layer}_rate"] = summarise(f"chat/{layer} @ {rate:.0f}/s", res, seconds)
        finally:
            srv.stop()
        if show_timeline:
            try:
                trace = json.loads(trace_path.read_text())
            except (OSError, ValueError):
                trace = None
            timeline(res["lat_at"], res["start_at"], seconds, trace, res["gen_gc"])
        srv = ServerProc("chat", env)
        try:
            res = run_load(
                "chat",
                srv.port,
                n=args.loop_sockets,
                gen_procs=args.gen_procs,
                mode="loop",
                loop_sockets=args.loop_sockets,
                seconds=min(seconds, 8),
                fixtures=loop_fx,
                server_pid=srv.proc.pid,
            )
            report[f"chat_{layer}_loop"] = summarise(f"chat/{layer} closed loop", res, min(seconds, 8))
        finally:
            srv.stop()
        if layer == "embedded" and not args.skip_memory:
            report["chat_mem_kb"], report["chat_mem_kb_marginal"], _ = idle_memory_per_conn(
                "chat", env, n, args.gen_procs, fixtures=main_fx
            )

    if not {"raw", "channels-echo", "chat"} <= servers or not layers or args.skip_memory:
        for key, value in report.items():
            if isinstance(value, dict):
                log(f"{key}: {value}")
        Path(var / "report.json").write_text(json.dumps(report, indent=1))
        return 0
    if args.memory_only:
        for key in ("raw", "channels-echo", "chat"):
            log(
                f"memory per idle socket, {key}: {report[key + '_mem_kb']:.1f} kB from cold, "
                f"{report[key + '_mem_kb_marginal']:.1f} kB per added socket"
            )
        Path(var / "report.json").write_text(json.dumps(report, indent=1))
        return 0
    raw_loop = report["raw_loop"]["rate"] or 1
    echo_loop = report["channels-echo_loop"]["rate"] or 1
    log(
        f"ratios: channels echo / raw = {echo_loop / raw_loop:.2f}x; "
        + "; ".join(
            f"chat/{layer} / channels echo = {report[f'chat_{layer}_loop']['rate'] / echo_loop:.2f}x"
            for layer, _ in layers
        )
    )
    Path(var / "report.json").write_text(json.dumps(report, indent=1))
    ok = True

    def target(name, measured, goal, passed):
        nonlocal ok
        ok &= passed
        print(f"TARGET {name} {measured} {goal} {'PASS' if passed else 'FAIL'}")

    for layer, _ in layers:
        if layer == "redis-stock":
            continue  # a comparison: what ships is ours
        r = report[f"chat_{layer}_rate"]
        target(f"chat_{layer}_sockets_held", r["held"], n, r["held"] >= n)
        target(
            f"chat_{layer}_p99_ms_at_{rate:.0f}_per_s",
            f"{r['p99']:.1f}",
            "<=50",
            r["p99"] <= 50 and r["delivered"] >= 0.99 * r["sent"],
        )
        ratio = report[f"chat_{layer}_loop"]["rate"] / echo_loop
        target(f"chat_{layer}_throughput_vs_channels_echo", f"{ratio:.2f}", ">=0.5", ratio >= 0.5)
    target(
        "chat_memory_kb_per_idle_socket", f"{report['chat_mem_kb']:.1f}", "<=40", report["chat_mem_kb"] <= 40
    )
    marginal = report["chat_mem_kb_marginal"]
    target("chat_memory_kb_per_added_idle_socket", f"{marginal:.1f}", "<=40", marginal <= 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
