"""The double-entry ledger, on TigerBeetle's model.

An account holds four cached balances (debits/credits, posted/pending). A transfer debits one
account and credits another on the same ledger; transfers are never updated or deleted. A
pending transfer reserves its amount; a later ``post``, ``void`` or ``expire`` transfer that
references it (``pending``) resolves it, and the partial unique index on ``pending`` makes "at
most once" a database fact, not just a code path.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

CNY = 156  # ISO 4217 numeric code: the ledger number of the CNY ledger


class Account(models.Model):
    class Code(models.TextChoices):
        WALLET = "wallet", "Customer wallet"
        CLEARING = "clearing", "Channel clearing"
        PAYOUT = "payout", "Channel payout"
        FEES = "fees", "Fees"
        SUSPENSE = "suspense", "Suspense"
        EQUITY = "equity", "Equity / operator"
        TEST = "test", "Test"

    ledger = models.PositiveIntegerField(default=CNY)
    code = models.CharField(max_length=16, choices=Code.choices)
    ref = models.CharField(max_length=80, unique=True, null=True, blank=True, help_text="Owner reference")
    debits_must_not_exceed_credits = models.BooleanField(default=False)
    credits_must_not_exceed_debits = models.BooleanField(default=False)
    closed = models.BooleanField(default=False)
    debits_pending = models.BigIntegerField(default=0)
    debits_posted = models.BigIntegerField(default=0)
    credits_pending = models.BigIntegerField(default=0)
    credits_posted = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_account"
        constraints = [
            models.CheckConstraint(
                name="ledger_account_balances_not_negative",
                condition=Q(
                    debits_pending__gte=0, debits_posted__gte=0, credits_pending__gte=0, credits_posted__gte=0
                ),
            ),
            models.CheckConstraint(
                name="ledger_account_flags_exclusive",
                condition=~Q(debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=True),
            ),
            # The last line of defence: even a buggy code path cannot overdraw an account.
            models.CheckConstraint(
                name="ledger_account_debits_within_credits",
                condition=Q(debits_must_not_exceed_credits=False)
                | Q(debits_posted__lte=F("credits_posted") - F("debits_pending")),
            ),
            models.CheckConstraint(
                name="ledger_account_credits_within_debits",
                condition=Q(credits_must_not_exceed_debits=False)
                | Q(credits_posted__lte=F("debits_posted") - F("credits_pending")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}#{self.pk}{' ' + self.ref if self.ref else ''}"

    @property
    def currency(self) -> str:
        return "CNY" if self.ledger == CNY else str(self.ledger)

    @property
    def balance_fen(self) -> int:
        """Posted balance on the account's normal side (credit-normal for liabilities like wallets)."""
        if self.debits_must_not_exceed_credits:
            return self.credits_posted - self.debits_posted
        return self.debits_posted - self.credits_posted

    @property
    def available_fen(self) -> int:
        if self.debits_must_not_exceed_credits:
            return self.credits_posted - self.debits_posted - self.debits_pending
        return self.debits_posted - self.credits_posted - self.credits_pending


class Transfer(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Posted at once"
        PENDING = "pending", "Pending (reserved)"
        POST = "post", "Post pending"
        VOID = "void", "Void pending"
        EXPIRE = "expire", "Pending expired"

    # Unique through Meta.constraints, not ``unique=True``: on PostgreSQL the field option adds a
    # second (varchar_pattern_ops) index for LIKE queries that nothing runs on this table.
    key = models.CharField(max_length=64, help_text="Client-chosen idempotency key")
    # No database-level foreign keys on the hot table: the engine and the SQL function lock both
    # accounts FOR UPDATE before inserting (so they exist), accounts are never deleted, and the
    # deferred RI triggers cost a third of a batch's commit. ledger_verify checks the references.
    # Every index here is paid on every insert (single and batch path), so each one exists for a
    # query that runs: the key (unique: idempotency), pending (the partial unique "resolved once",
    # which also serves lookups by pending_id) and pending timeouts (the expiry job). No index on
    # debit/credit account: nothing queries transfers by account (customers' history is
    # payments.Transaction; ledger_verify scans everything), and the two random-order B-tree
    # inserts were ~55% of a 1,000-row batch INSERT and ~20% of the single path's server CPU
    # (docs/benchmarks.md, Ledger). An account-statement query would bring them back with
    # CREATE INDEX CONCURRENTLY (migration 0004 drops them).
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    amount_fen = models.BigIntegerField()
    ledger = models.PositiveIntegerField(default=CNY)
    code = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SINGLE)
    pending = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    timeout_seconds = models.PositiveIntegerField(default=0)
    timeout_at = models.DateTimeField(null=True, blank=True)
    linked = models.BooleanField(default=False)
    memo = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_transfer"
        constraints = [
            models.UniqueConstraint(fields=["key"], name="ledger_transfer_key_unique"),
            models.CheckConstraint(name="ledger_transfer_amount_positive", condition=Q(amount_fen__gt=0)),
            models.CheckConstraint(
                name="ledger_transfer_accounts_differ", condition=~Q(debit_account=F("credit_account"))
            ),
            models.UniqueConstraint(
                fields=["pending"], condition=Q(pending__isnull=False), name="ledger_pending_resolved_once"
            ),
        ]
        indexes = [
            models.Index(fields=["timeout_at"], condition=Q(kind="pending"), name="ledger_pending_timeout"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} {self.amount_fen}"
