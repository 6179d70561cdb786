"""Random transfers with writers killed by SIGKILL mid-load, then ``ledger_verify``.

    manage.py ledger_soak --transfers 1000000 --accounts 1000 --writers 2 --kill-every 5

Writers are child processes (``--child``) so a kill really cuts a connection mid-transaction.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand
from django.db import connection, connections

from okwallet.ledger.models import Account, Transfer
from okwallet.ledger.selectors import ledger_verify
from okwallet.ledger.services import TransferIn, account_create, transfer_create, transfers_create


def soak_accounts(n: int) -> list[int]:
    ids = [account_create(code="equity", ref="soak:operator").pk]
    ids += [
        account_create(code="test", ref=f"soak:{i}", debits_must_not_exceed_credits=True).pk for i in range(n)
    ]
    return ids


def child_loop(*, accounts: list[int], count: int, batch: int, seed: int) -> int:
    rng = random.Random(seed)
    operator, wallets = accounts[0], accounts[1:]
    done = 0
    while done < count:
        if batch > 1:
            items = []
            for _ in range(batch):
                a, b = rng.sample(wallets, 2)
                src = operator if rng.random() < 0.2 else a
                items.append(
                    TransferIn(
                        key=f"s{seed}-{done}-{len(items)}-{rng.getrandbits(40)}",
                        debit_account_id=src,
                        credit_account_id=b,
                        amount_fen=rng.randint(1, 5_000),
                        code="soak",
                        kind="pending" if rng.random() < 0.1 else "single",
                    )
                )
            transfers_create(transfers=items)
            done += batch
        else:
            a, b = rng.sample(wallets, 2)
            src = operator if rng.random() < 0.2 else a
            transfer_create(
                key=f"s{seed}-{done}-{rng.getrandbits(40)}",
                debit_account_id=src,
                credit_account_id=b,
                amount_fen=rng.randint(1, 5_000),
                code="soak",
            )
            done += 1
    return done


class Command(BaseCommand):
    help = "Soak the ledger with random transfers while SIGKILLing writers, then verify."

    def add_arguments(self, parser):
        parser.add_argument("--transfers", type=int, default=100_000)
        parser.add_argument("--accounts", type=int, default=1000)
        parser.add_argument("--writers", type=int, default=2)
        parser.add_argument("--batch", type=int, default=500, help="transfers per batch (1 = single path)")
        parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between SIGKILLs")
        parser.add_argument("--child", action="store_true", help=argparse_suppress())
        parser.add_argument("--database-name", default="", help="connect to this database name (tests)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **o):
        if o["database_name"]:
            connections["default"].settings_dict["NAME"] = o["database_name"]
        if o["child"]:
            accounts = list(
                Account.objects.filter(ref__startswith="soak:").order_by("id").values_list("id", flat=True)
            )
            child_loop(accounts=accounts, count=o["transfers"], batch=o["batch"], seed=o["seed"])
            return
        soak_accounts(o["accounts"])
        connection.close()
        start_count = Transfer.objects.count()
        target = start_count + o["transfers"]
        kills = 0
        seed = 1
        procs: list[subprocess.Popen] = []
        t0 = time.monotonic()
        last_kill = t0
        while True:
            made = Transfer.objects.count()
            connection.close()
            if made >= target:
                break
            procs = [p for p in procs if p.poll() is None]
            while len(procs) < o["writers"]:
                seed += 1
                cmd = [
                    sys.executable,
                    sys.argv[0],
                    "ledger_soak",
                    "--child",
                    "--batch",
                    str(o["batch"]),
                    "--transfers",
                    str(o["transfers"]),
                    "--seed",
                    str(seed),
                ]
                if o["database_name"]:
                    cmd += ["--database-name", o["database_name"]]
                procs.append(subprocess.Popen(cmd, env=os.environ.copy()))
            if time.monotonic() - last_kill >= o["kill_every"] and procs:
                victim = random.choice(procs)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                last_kill = time.monotonic()
            rate = (made - start_count) / max(1e-6, time.monotonic() - t0)
            self.stdout.write(f"  {made - start_count:>9} transfers, {kills} SIGKILLs, {rate:,.0f}/s")
            time.sleep(1.0)
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        report = ledger_verify()
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write(
            f"SOAK transfers={Transfer.objects.count() - start_count} kills={kills} "
            f"verify={'clean' if report.clean else 'DRIFT'}"
        )
        if not report.clean:
            sys.exit(1)


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
