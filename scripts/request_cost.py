"""CPU per request of one API or page route, in process (Django test client), with a profile.

    .venv/bin/python scripts/request_cost.py /api/v1/tickets?view=all --tickets 200 --n 300 [--profile out.prof]

A throwaway SQLite database under a temp OKWALLET_VAR_DIR (or DATABASE_URL if set), a supervisor
with an API token, N tickets with messages; then the route is requested N times and the CPU time
per request (process_time) and SQL statements per request are printed. What the open-loop
benchmarks (bench/tickets.py) can serve per core follows from this figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--tickets", type=int, default=200)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--profile", default="")
    args = ap.parse_args()
    os.environ.setdefault("OKWALLET_VAR_DIR", tempfile.mkdtemp(prefix="okw-cost-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "okwallet.settings")
    os.environ["OKWALLET_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0, interactive=False)
    from okwallet.accounts.models import ApiToken, User
    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.accounts.services import customer_create, staff_create
    from okwallet.helpdesk.services import ticket_create

    ensure_role_groups()
    sup = User.objects.filter(username="cost_supervisor").first() or staff_create(
        username="cost_supervisor", password="Cost-Password-42", role="supervisor", display_name="cost"
    )
    _row, token = ApiToken.issue(sup, "cost")
    have = __import__("okwallet.helpdesk.models", fromlist=["Ticket"]).Ticket.objects.count()
    if have < args.tickets:
        customer = customer_create(phone="+8613900009999", password=None, display_name="测试")
        for i in range(have, args.tickets):
            ticket_create(
                customer=customer,
                channel="web",
                category="deposit",
                subject=f"充值未到账 {i}",
                body="银行卡充值没有到账，请帮忙查询。",
            )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for _ in range(20):  # warm: imports, caches, compiled templates
        r = client.get(args.path)
    print(f"status {r.status_code}, {len(r.content):,} bytes")
    with CaptureQueriesContext(connection) as q:
        client.get(args.path)
    print(f"SQL statements per request: {len(q.captured_queries)}")
    for s in q.captured_queries:
        print("   ", s["sql"][:140])
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile(time.process_time)
        prof.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.n):
        client.get(args.path)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    print(
        f"{args.path}: {cpu / args.n * 1000:.2f} ms CPU, {wall / args.n * 1000:.2f} ms wall per request (n={args.n})"
    )


if __name__ == "__main__":
    main()
