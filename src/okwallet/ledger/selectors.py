"""Ledger reads: balances and the invariant check behind ``manage.py ledger_verify``."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from okwallet.ledger.models import Account


@dataclass
class VerifyReport:
    accounts: int = 0
    transfers: int = 0
    totals: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"accounts: {self.accounts}",
            f"transfers: {self.transfers}",
            *(f"{k}: {v}" for k, v in self.totals.items()),
        ]
        out.extend(f"PROBLEM {p}" for p in self.problems)
        return out


def account_get(account_id: int) -> Account | None:
    return Account.objects.filter(pk=account_id).first()


# Per-account sums recomputed from the immutable transfers. A pending transfer counts as pending
# until some transfer resolves it; single and post transfers count as posted.
_RECOMPUTE = """
WITH resolved AS (SELECT pending_id FROM ledger_transfer WHERE pending_id IS NOT NULL),
legs AS (
  SELECT t.debit_account_id AS account_id,
         CASE WHEN t.kind = 'pending' AND t.id NOT IN (SELECT pending_id FROM resolved) THEN t.amount_fen ELSE 0 END AS dp,
         CASE WHEN t.kind IN ('single', 'post') THEN t.amount_fen ELSE 0 END AS dpo, 0 AS cp, 0 AS cpo
    FROM ledger_transfer t
  UNION ALL
  SELECT t.credit_account_id, 0, 0,
         CASE WHEN t.kind = 'pending' AND t.id NOT IN (SELECT pending_id FROM resolved) THEN t.amount_fen ELSE 0 END,
         CASE WHEN t.kind IN ('single', 'post') THEN t.amount_fen ELSE 0 END
    FROM ledger_transfer t
),
sums AS (SELECT account_id, SUM(dp) dp, SUM(dpo) dpo, SUM(cp) cp, SUM(cpo) cpo FROM legs GROUP BY account_id)
SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
       COALESCE(s.dp, 0), COALESCE(s.dpo, 0), COALESCE(s.cp, 0), COALESCE(s.cpo, 0)
  FROM ledger_account a LEFT JOIN sums s ON s.account_id = a.id
 WHERE a.debits_pending <> COALESCE(s.dp, 0) OR a.debits_posted <> COALESCE(s.dpo, 0)
    OR a.credits_pending <> COALESCE(s.cp, 0) OR a.credits_posted <> COALESCE(s.cpo, 0)
"""


_TOTALS_IN_HALVES = """
SELECT COUNT(*),
       COALESCE(SUM(debits_posted >> 32), 0), COALESCE(SUM(debits_posted & 4294967295), 0),
       COALESCE(SUM(credits_posted >> 32), 0), COALESCE(SUM(credits_posted & 4294967295), 0),
       COALESCE(SUM(debits_pending >> 32), 0), COALESCE(SUM(debits_pending & 4294967295), 0),
       COALESCE(SUM(credits_pending >> 32), 0), COALESCE(SUM(credits_pending & 4294967295), 0)
  FROM ledger_account
"""


def ledger_verify(*, max_report: int = 50) -> VerifyReport:
    """Sum of debits = sum of credits (posted and pending); every account's cached balances equal
    the sums of its transfers; no pending transfer resolved twice; resolutions point at pendings;
    posts within their pending amount; flagged accounts within their limits."""
    report = VerifyReport()
    with connection.cursor() as cur:
        # Each balance fits in a BIGINT, their total need not: SQLite's SUM raises "integer
        # overflow" past 2**63 - 1. Summed as high and low 32-bit halves, every partial sum fits
        # (up to 2**31 accounts), and Python adds them up exactly.
        columns = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
        cur.execute(_TOTALS_IN_HALVES)
        n, *halves = cur.fetchone()
        report.accounts = n
        report.totals = {
            c: (int(halves[2 * i]) << 32) + int(halves[2 * i + 1]) for i, c in enumerate(columns)
        }
        dpo, cpo, dp, cp = (report.totals[c] for c in columns)
        if dpo != cpo:
            report.problems.append(f"posted debits {dpo} != posted credits {cpo}")
        if dp != cp:
            report.problems.append(f"pending debits {dp} != pending credits {cp}")
        cur.execute("SELECT COUNT(*) FROM ledger_transfer")
        report.transfers = cur.fetchone()[0]
        cur.execute(_RECOMPUTE)
        for row in cur.fetchall()[:max_report]:
            report.problems.append(
                f"account {row[0]} cached (dp={row[1]} dpo={row[2]} cp={row[3]} cpo={row[4]}) "
                f"!= transfers (dp={row[5]} dpo={row[6]} cp={row[7]} cpo={row[8]})"
            )
        cur.execute(
            "SELECT pending_id, COUNT(*) FROM ledger_transfer WHERE pending_id IS NOT NULL "
            "GROUP BY pending_id HAVING COUNT(*) > 1"
        )
        for pid, count in cur.fetchall()[:max_report]:
            report.problems.append(f"pending transfer {pid} resolved {count} times")
        cur.execute(
            "SELECT r.id, r.kind, p.kind, r.amount_fen, p.amount_fen FROM ledger_transfer r "
            "JOIN ledger_transfer p ON p.id = r.pending_id"
        )
        for rid, rkind, pkind, ramount, pamount in cur.fetchall():
            if len(report.problems) > max_report:
                break
            if rkind not in ("post", "void", "expire") or pkind != "pending":
                report.problems.append(f"transfer {rid} ({rkind}) resolves a {pkind} transfer")
            elif ramount > pamount:
                report.problems.append(f"transfer {rid} posts {ramount} of a pending {pamount}")
        cur.execute(
            "SELECT t.id FROM ledger_transfer t LEFT JOIN ledger_account d ON d.id = t.debit_account_id "
            "LEFT JOIN ledger_account c ON c.id = t.credit_account_id "
            "LEFT JOIN ledger_transfer p ON p.id = t.pending_id "
            "WHERE d.id IS NULL OR c.id IS NULL OR (t.pending_id IS NOT NULL AND p.id IS NULL)"
        )
        for (tid,) in cur.fetchall()[:max_report]:
            report.problems.append(f"transfer {tid} references a missing account or pending transfer")
        cur.execute(
            "SELECT id FROM ledger_account WHERE (debits_must_not_exceed_credits AND "
            "debits_posted + debits_pending > credits_posted) OR (credits_must_not_exceed_debits AND "
            "credits_posted + credits_pending > debits_posted)"
        )
        for (aid,) in cur.fetchall()[:max_report]:
            report.problems.append(f"account {aid} exceeds its flag limit")
    return report
