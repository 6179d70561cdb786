"""Ledger throughput on PostgreSQL against pgbench's TPC-B-like script, measured in the same run.

    .venv/bin/python bench/ledger.py            # 20 s per measurement
    .venv/bin/python bench/ledger.py --small    # quick: 5 s per measurement, 2,000 uniform accounts
    .venv/bin/python bench/ledger.py --server postgres://postgres@127.0.0.1:5432

What it does (two scratch databases on the server, dropped and re-created):

1. Baseline: ``pgbench -i -s 10`` then ``pgbench -c 32 -j 2 -M prepared -T <s>`` (TPC-B-like).
2. The single-transfer path (``okwallet.ledger.services.transfer_create``: one function call, one
   round trip, autocommit) from 32 clients, on a uniform mix (10,000 funded accounts) and a hot
   mix (10 accounts): 32 threads in this process, or ``--single-procs N`` processes of 32/N
   threads (each its own interpreter lock). Connected before the clock starts, like pgbench.
   Posted transfers/s; rejected ones (insufficient balance) are counted apart and are not
   throughput.
3. The batch path (``transfers_create``, 1,000 transfers per transaction) with 1 and 2 writers
   (2 processes; ``--batch-threads``: 2 threads of this process); each writer's next batch is
   built by a helper thread while the current one is in flight.
4. ``ledger_verify`` must be clean afterwards.

The uniform single path and the two uniform batch measurements (whose ratio is a target) run in
``--rounds`` interleaved rounds (default 2 of 10 s each; ``--small``: 1), as the host's speed
drifts from minute to minute; rates are the means over the rounds.

Like pgbench's own set-up, the ledger tables are vacuumed once after funding the accounts, and each
measurement (pgbench's too) starts after a CHECKPOINT. Every client process, once set up, freezes
its heap and sets the collector's thresholds as an app process does once warm (``freeze_heap``).

Ends with ``TARGET`` lines: single uniform >= 1.0x pgbench, single hot >= 0.35x pgbench,
batch >= 10x single (uniform).
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def psql(server: str, sql: str) -> None:
    subprocess.run(
        ["psql", f"{server}/postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def fresh_db(server: str, name: str) -> None:
    psql(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(server, f"CREATE DATABASE {name}")


def run_pgbench(server: str, seconds: int) -> float:
    db = "okw_bench_pgbench"
    fresh_db(server, db)
    print("pgbench: initialising scale 10 ...", flush=True)
    subprocess.run(
        ["pgbench", "-i", "-s", "10", "-q", f"{server}/{db}"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    psql(server, "CHECKPOINT")
    print(f"pgbench: -c 32 -j 2 -M prepared -T {seconds} ...", flush=True)
    out = subprocess.run(
        ["pgbench", "-c", "32", "-j", "2", "-M", "prepared", "-T", str(seconds), f"{server}/{db}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([0-9.]+)", out
    )
    tps = float(match.group(1))
    print(f"pgbench: {tps:,.0f} tps", flush=True)
    psql(server, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return tps


def settle(server: str, *, vacuum: bool = False) -> None:
    """Before each measurement, as before pgbench's: a CHECKPOINT, so no measurement starts with
    the previous one's dirty buffers to write (a checkpoint landing in a 20 s window halved the
    single path once); with ``vacuum``, VACUUM ANALYZE the ledger tables, as ``pgbench -i`` does
    its own (this server runs with autovacuum off)."""
    db = "okw_bench_ledger"
    if vacuum:
        subprocess.run(
            [
                "psql",
                f"{server}/{db}",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "VACUUM ANALYZE ledger_account",
                "-c",
                "VACUUM ANALYZE ledger_transfer",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    psql(server, "CHECKPOINT")


def freeze_heap() -> None:
    """What an app process does once warm (asgi.py): Django's import-time heap into the permanent
    generation, then the collector's thresholds for a long-lived process (core/readiness.py). A
    batch allocates ~20,000 short-lived objects: at CPython's default thresholds the collector cost
    ~7 ms per batch (a fifth of the writer's CPU), and full passes over the unfrozen heap more."""
    from okwallet.core import readiness

    readiness.freeze_heap_when_warm()


def setup_django(server: str) -> None:
    db = "okw_bench_ledger"
    fresh_db(server, db)
    os.environ["DATABASE_URL"] = f"{server}/{db}"
    os.environ.setdefault("OKWALLET_VAR_DIR", tempfile.mkdtemp(prefix="okw-bench-ledger-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "okwallet.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # 32 client threads each keep a connection for the whole run (like 32 pgbench clients).
    os.environ.setdefault("OKWALLET_DB_POOL_SIZE", "40")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "ledger", verbosity=0)


def make_accounts(n: int, prefix: str, fund_fen: int) -> list[int]:
    from okwallet.ledger.models import Account
    from okwallet.ledger.services import TransferIn, account_create, transfers_create

    operator = account_create(code="equity", ref=f"{prefix}:operator")
    Account.objects.bulk_create(
        [Account(code="wallet", ref=f"{prefix}:{i}", debits_must_not_exceed_credits=True) for i in range(n)],
        batch_size=2000,
    )
    ids = list(
        Account.objects.filter(ref__startswith=f"{prefix}:")
        .exclude(pk=operator.pk)
        .values_list("id", flat=True)
    )
    for start in range(0, len(ids), 1000):
        transfers_create(
            transfers=[
                TransferIn(
                    key=f"{prefix}-fund-{a}",
                    debit_account_id=operator.pk,
                    credit_account_id=a,
                    amount_fen=fund_fen,
                    code="fund",
                )
                for a in ids[start : start + 1000]
            ]
        )
    return ids


def _pick(random_, ids: list[int]) -> tuple[int, int, int]:
    """Two different accounts, uniformly, and an amount of 1-100 fen: what random.sample(ids, 2)
    and randint(1, 100) give, at a quarter of their Python cost (a batch writer draws 1,000 per
    batch, ~3 ms with sample/randint, part of the measured time; pgbench draws in C)."""
    n = len(ids)
    a = int(random_() * n)
    b = int(random_() * (n - 1))
    b += b >= a
    return ids[a], ids[b], 1 + int(random_() * 100)


def _single_clients(ids, seconds, clients, label, proc, start=None):
    """``clients`` threads calling the single-transfer service until ``seconds`` after ``start``
    (a barrier shared with the other processes, if any). Returns (posted, rejected, elapsed)."""
    from django.db import connection

    from okwallet.ledger.services import transfer_create

    counts = [[0, 0] for _ in range(clients)]
    ready = threading.Barrier(clients + 1)
    stop = [0.0]

    def client(n: int):
        rng = random.Random(n * 7919 + len(label) + proc * 100_003)
        # Connect before the clock starts (pgbench's tps also excludes connection time).
        transfer_create(key="", debit_account_id=None)
        ready.wait()
        i = 0
        while time.monotonic() < stop[0]:
            a, b, amount = _pick(rng.random, ids)
            r = transfer_create(
                key=f"{label}-{proc}-{n}-{i}",
                debit_account_id=a,
                credit_account_id=b,
                amount_fen=amount,
                code="bench",
            )
            counts[n][0 if r.created else 1] += 1
            i += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    if start is not None:
        start.wait()
    t0 = time.monotonic()
    stop[0] = t0 + seconds
    ready.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed


def _in_processes(target, procs: int, seconds: float, args: tuple) -> tuple[int, int, float]:
    """``target(*args, k, start, out)`` in ``procs`` spawned processes released together by the
    ``start`` barrier; their (posted, rejected, elapsed) summed (elapsed: the longest)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args, k, start, out)) for k in range(procs)]
    for w in workers:
        w.start()
    start.wait(timeout=120)
    parts = [out.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join()
    return sum(p[0] for p in parts), sum(p[1] for p in parts), max(p[2] for p in parts)


def _single_process(ids, seconds, clients, label, proc, start, out):
    """One of several client processes (spawned: a fresh interpreter with the parent's environment,
    its own GIL and DB pool)."""
    import django

    django.setup()
    freeze_heap()
    out.put(_single_clients(ids, seconds, clients, label, proc, start))


def run_single(
    ids: list[int], seconds: float, clients: int, label: str, procs: int = 1
) -> tuple[float, float]:
    if procs == 1:
        posted, rejected, elapsed = _single_clients(ids, seconds, clients, label, 0)
    else:
        posted, rejected, elapsed = _in_processes(
            _single_process, procs, seconds, (ids, seconds, clients // procs, label)
        )
    rate = posted / elapsed
    rej = rejected / max(1, posted + rejected)
    print(
        f"  {label}: {rate:,.0f} posted/s, rejected {rej:.1%} ({procs} x {clients // procs} clients)",
        flush=True,
    )
    return rate, rej


def _batch_writers(ids, seconds, writers, label, batch, proc, start=None):
    """``writers`` threads, each sending batches of ``batch`` transfers until ``seconds`` after
    ``start`` (a barrier shared with the other processes, if any). Returns (posted, rejected,
    elapsed)."""
    from django.db import connection

    from okwallet.ledger.services import TransferIn, transfers_create

    counts = [[0, 0] for _ in range(writers)]
    stop = [0.0]

    def builder(n: int, ready: queue.Queue):
        # The client prepares its next batch while the current one is with the server (a thread:
        # it runs while the writer waits on the socket), as a real batch producer would.
        rng = random.Random(n + 101 + proc * 1009)
        i = 0
        while True:
            items = []
            for _ in range(batch):
                a, b, amount = _pick(rng.random, ids)
                items.append(
                    TransferIn(
                        key=f"{label}-{proc}-{n}-{i}",
                        debit_account_id=a,
                        credit_account_id=b,
                        amount_fen=amount,
                        code="bench",
                    )
                )
                i += 1
            ready.put(items)
            if stop[0] and time.monotonic() >= stop[0]:
                break
        ready.put(None)

    def writer(n: int, ready: queue.Queue):
        while (items := ready.get()) is not None:
            if time.monotonic() >= stop[0]:
                continue  # drain: the builder ends on its own
            for r in transfers_create(transfers=items):
                counts[n][0 if r.created else 1] += 1
        connection.close()

    queues = [queue.Queue(maxsize=1) for _ in range(writers)]
    for n in range(writers):
        threading.Thread(target=builder, args=(n, queues[n]), daemon=True).start()
    if start is not None:
        connection.ensure_connection()
        start.wait()
    t0 = time.monotonic()
    stop[0] = t0 + seconds
    threads = [threading.Thread(target=writer, args=(n, queues[n])) for n in range(writers)]
    for t in threads:
        t.start()
    if start is None:
        progress(threads, t0, seconds, label)
    for t in threads:
        t.join()
    return sum(c[0] for c in counts), sum(c[1] for c in counts), time.monotonic() - t0


def _batch_process(ids, seconds, writers, label, batch, proc, start, out):
    """One batch-writer process (spawned: its own interpreter lock, pool and account cache)."""
    import django

    django.setup()
    freeze_heap()
    out.put(_batch_writers(ids, seconds, writers, label, batch, proc, start))


def run_batch(
    ids: list[int], seconds: float, writers: int, label: str, batch: int = 1000, procs: int = 1
) -> tuple[float, float]:
    """``writers`` batch writers: threads of this process, or spread over ``procs`` processes."""
    if procs == 1:
        posted, rejected, elapsed = _batch_writers(ids, seconds, writers, label, batch, 0)
    else:
        posted, rejected, elapsed = _in_processes(
            _batch_process, procs, seconds, (ids, seconds, writers // procs, label, batch)
        )
    rate = posted / elapsed
    rej = rejected / max(1, posted + rejected)
    print(f"  {label}: {rate:,.0f} posted/s, rejected {rej:.1%} ({procs} process(es))", flush=True)
    return rate, rej


def progress(threads, t0, seconds, label):
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.5)
        done = time.monotonic() - t0
        if int(done) % 5 == 0 and done < seconds + 1:
            print(f"    {label}: {min(done, seconds):.0f}/{seconds:.0f} s", flush=True, end="\r")
    print(" " * 40, end="\r")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--seconds", type=int, default=0)
    parser.add_argument(
        "--single-procs",
        type=int,
        default=1,
        help="client processes sharing the 32 single-path clients (threads in each)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="interleaved rounds of single-uniform / batch-1 / batch-2 (default 2, --small 1)",
    )
    parser.add_argument(
        "--batch-threads",
        action="store_true",
        help="run the 2 batch writers as threads of this process instead of 2 processes",
    )
    args = parser.parse_args()
    seconds = args.seconds or (5 if args.small else 20)
    uniform_n = 2_000 if args.small else 10_000

    pg_tps = run_pgbench(args.server, seconds)
    print("ledger: migrating a scratch database and funding accounts ...", flush=True)
    setup_django(args.server)
    uniform = make_accounts(uniform_n, "u", 10**9)
    hot = make_accounts(10, "h", 10**12)
    print(f"ledger: {len(uniform):,} uniform accounts, {len(hot)} hot accounts", flush=True)

    freeze_heap()
    procs = args.single_procs
    settle(args.server, vacuum=True)
    # The batch/single ratio compares measurements taken minutes apart on a host whose speed
    # drifts from minute to minute (a 10 M-iteration loop: 1.0-1.8 s): so the uniform single path
    # and both batch measurements run in interleaved rounds (each measurement 1/rounds of its time),
    # and the rates are the means over the rounds (per-round ratios printed too).
    rounds = args.rounds or (1 if args.small else 2)
    part = max(2, round(seconds / rounds))
    per_round = []
    for r in range(rounds):
        tag = f"-r{r + 1}" if rounds > 1 else ""
        settle(args.server)
        su, rej_su = run_single(uniform, part, 32, f"single-uniform{tag}", procs)
        settle(args.server)
        b1, _ = run_batch(uniform, part, 1, f"batch-1-writer{tag}")
        settle(args.server)
        # Two writers are two processes, each its own interpreter lock (the batch path is half
        # Python); with the locks held only inside the sealed pipeline, nothing else separates them.
        b2, _ = run_batch(uniform, part, 2, f"batch-2-writers{tag}", procs=1 if args.batch_threads else 2)
        per_round.append((su, b1, b2))
    single_u = sum(r[0] for r in per_round) / rounds
    batch1 = sum(r[1] for r in per_round) / rounds
    batch2 = sum(r[2] for r in per_round) / rounds
    settle(args.server)
    single_h, rej_sh = run_single(hot, seconds, 32, "single-hot", procs)
    settle(args.server)
    batch_hot, _ = run_batch(hot, seconds, 1, "batch-hot-1-writer")
    batch = max(batch1, batch2)

    from okwallet.ledger.selectors import ledger_verify

    report = ledger_verify()
    print(f"ledger_verify: {'clean' if report.clean else 'DRIFT'} ({report.transfers:,} transfers)")
    for p in report.problems[:10]:
        print("  ", p)

    print()
    print(f"pgbench TPC-B-like (-c 32 -j 2 -M prepared, scale 10): {pg_tps:,.0f} tps")
    print(f"single uniform: {single_u:,.0f}/s = {single_u / pg_tps:.2f}x pgbench (rejected {rej_su:.1%})")
    print(f"single hot:     {single_h:,.0f}/s = {single_h / pg_tps:.2f}x pgbench (rejected {rej_sh:.1%})")
    print(
        f"batch 1 writer: {batch1:,.0f}/s, 2 writers: {batch2:,.0f}/s, hot 1 writer: {batch_hot:,.0f}/s "
        f"= {batch / single_u:.1f}x single"
    )
    if rounds > 1:
        ratios = ", ".join(f"{max(b1, b2) / su:.1f}x" for su, b1, b2 in per_round)
        print(f"batch/single by round ({part} s each): {ratios}")

    def target(name, measured, goal):
        print(f"TARGET {name} {measured:.2f} {goal} {'PASS' if measured >= goal else 'FAIL'}")

    target("ledger_single_uniform_vs_pgbench", single_u / pg_tps, 1.0)
    target("ledger_single_hot_vs_pgbench", single_h / pg_tps, 0.35)
    target("ledger_batch_vs_single", batch / single_u, 10)
    print(f"TARGET ledger_verify_clean {int(report.clean)} 1 {'PASS' if report.clean else 'FAIL'}")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
