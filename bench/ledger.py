"""Ledger throughput on PostgreSQL against pgbench's TPC-B-like script, measured in the same run.

    .venv/bin/python bench/ledger.py            # 20 s per measurement
    .venv/bin/python bench/ledger.py --small    # quick: 5 s per measurement, 2,000 uniform accounts
    .venv/bin/python bench/ledger.py --server postgres://postgres@127.0.0.1:5432

What it does (two scratch databases on the server, dropped and re-created):

1. Baseline: ``pgbench -i -s 10`` then ``pgbench -c 32 -j 2 -M prepared -T <s>`` (TPC-B-like).
2. The single-transfer path (``okwallet.ledger.services.transfer_create``: one function call, one
   round trip, autocommit) from 32 client threads, on a uniform mix (10,000 funded accounts) and
   a hot mix (10 accounts). Posted transfers/s; rejected ones (insufficient balance) are counted
   apart and are not throughput.
3. The batch path (``transfers_create``, 1,000 transfers per transaction) with 1 and 2 writers.
4. ``ledger_verify`` must be clean afterwards.

Ends with ``TARGET`` lines: single uniform >= 1.0x pgbench, single hot >= 0.35x pgbench,
batch >= 10x single (uniform).
"""

from __future__ import annotations

import argparse
import os
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


def run_single(ids: list[int], seconds: float, clients: int, label: str) -> tuple[float, float]:
    from django.db import connection

    from okwallet.ledger.services import transfer_create

    stop = time.monotonic() + seconds
    counts = [[0, 0] for _ in range(clients)]

    def client(n: int):
        rng = random.Random(n * 7919 + len(label))
        i = 0
        while time.monotonic() < stop:
            a, b = rng.sample(ids, 2)
            r = transfer_create(
                key=f"{label}-{n}-{i}",
                debit_account_id=a,
                credit_account_id=b,
                amount_fen=rng.randint(1, 100),
                code="bench",
            )
            counts[n][0 if r.created else 1] += 1
            i += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    progress(threads, t0, seconds, label)
    elapsed = time.monotonic() - t0
    posted = sum(c[0] for c in counts)
    rejected = sum(c[1] for c in counts)
    rate = posted / elapsed
    print(f"  {label}: {rate:,.0f} posted/s, rejected {rejected / max(1, posted + rejected):.1%}", flush=True)
    return rate, rejected / max(1, posted + rejected)


def run_batch(
    ids: list[int], seconds: float, writers: int, label: str, batch: int = 1000
) -> tuple[float, float]:
    from django.db import connection

    from okwallet.ledger.services import TransferIn, transfers_create

    stop = time.monotonic() + seconds
    counts = [[0, 0] for _ in range(writers)]

    def writer(n: int):
        rng = random.Random(n + 101)
        i = 0
        while time.monotonic() < stop:
            items = []
            for _ in range(batch):
                a, b = rng.sample(ids, 2)
                items.append(
                    TransferIn(
                        key=f"{label}-{n}-{i}",
                        debit_account_id=a,
                        credit_account_id=b,
                        amount_fen=rng.randint(1, 100),
                        code="bench",
                    )
                )
                i += 1
            for r in transfers_create(transfers=items):
                counts[n][0 if r.created else 1] += 1
        connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    progress(threads, t0, seconds, label)
    elapsed = time.monotonic() - t0
    posted = sum(c[0] for c in counts)
    rejected = sum(c[1] for c in counts)
    rate = posted / elapsed
    print(f"  {label}: {rate:,.0f} posted/s, rejected {rejected / max(1, posted + rejected):.1%}", flush=True)
    return rate, rejected / max(1, posted + rejected)


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
    args = parser.parse_args()
    seconds = args.seconds or (5 if args.small else 20)
    uniform_n = 2_000 if args.small else 10_000

    pg_tps = run_pgbench(args.server, seconds)
    print("ledger: migrating a scratch database and funding accounts ...", flush=True)
    setup_django(args.server)
    uniform = make_accounts(uniform_n, "u", 10**9)
    hot = make_accounts(10, "h", 10**12)
    print(f"ledger: {len(uniform):,} uniform accounts, {len(hot)} hot accounts", flush=True)

    single_u, rej_su = run_single(uniform, seconds, 32, "single-uniform")
    single_h, rej_sh = run_single(hot, seconds, 32, "single-hot")
    batch1, _ = run_batch(uniform, seconds, 1, "batch-1-writer")
    batch2, _ = run_batch(uniform, seconds, 2, "batch-2-writers")
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

    def target(name, measured, goal):
        print(f"TARGET {name} {measured:.2f} {goal} {'PASS' if measured >= goal else 'FAIL'}")

    target("ledger_single_uniform_vs_pgbench", single_u / pg_tps, 1.0)
    target("ledger_single_hot_vs_pgbench", single_h / pg_tps, 0.35)
    target("ledger_batch_vs_single", batch / single_u, 10)
    print(f"TARGET ledger_verify_clean {int(report.clean)} 1 {'PASS' if report.clean else 'FAIL'}")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
