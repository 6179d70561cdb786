"""Payments: wallets, bank cards, the customer-facing transaction records, raw channel messages
and reconciliation. Money itself lives only in the ledger; a ``Transaction`` is the story around
one money movement (who, how, which channel reference, its status timeline)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from okwallet.ledger.models import Account


class Wallet(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet")
    account = models.OneToOneField(Account, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"wallet of {self.user_id}"


class BankCard(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Bound")
        UNBOUND = "unbound", _("Unbound")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bank_cards")
    bank_code = models.CharField(max_length=12)
    bank_name = models.CharField(max_length=40)
    last4 = models.CharField(max_length=4)
    number_hash = models.CharField(max_length=64, help_text="HMAC of the card number; the number is not kept")
    holder_name = models.CharField(max_length=60)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    channel_ref = models.CharField(max_length=64, blank=True)
    bound_at = models.DateTimeField(auto_now_add=True)
    unbound_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "number_hash"], condition=models.Q(status="active"), name="payments_card_once"
            )
        ]

    def __str__(self) -> str:
        return self.masked

    @property
    def masked(self) -> str:
        return f"{self.bank_name} ****{self.last4}"


class Transaction(models.Model):
    class Kind(models.TextChoices):
        DEPOSIT = "deposit", _("Deposit")
        WITHDRAWAL = "withdrawal", _("Withdrawal")
        TRANSFER_OUT = "transfer_out", _("Transfer sent")
        TRANSFER_IN = "transfer_in", _("Transfer received")
        # Corrections (docs/wallet.md "Reversals and refunds"): money taken back out of this
        # wallet (a charged-back deposit, a mistaken transfer returned) and money given back.
        REVERSAL = "reversal", _("Reversal")
        REFUND = "refund", _("Refund")

    class Status(models.TextChoices):
        PENDING = "pending", _("Processing")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        REVERSED = "reversed", _("Reversed")

    class Method(models.TextChoices):
        CARD = "card", _("Bank card")
        ALIPAY = "alipay", _("Alipay")
        WECHAT = "wechat", _("WeChat Pay")
        WALLET = "wallet", _("OK Wallet balance")

    reference = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    amount_fen = models.BigIntegerField()
    method = models.CharField(max_length=8, choices=Method.choices)
    channel = models.CharField(max_length=20, blank=True)
    channel_ref = models.CharField(max_length=64, blank=True, db_index=True)
    card = models.ForeignKey(BankCard, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    counterparty = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    counterpart_txn = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A reversal or refund record points at the customer's own record it corrects.
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="compensations"
    )
    ledger_key = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=100, blank=True)
    failure_code = models.CharField(max_length=40, blank=True)
    failure_message = models.CharField(max_length=200, blank=True)
    pay_url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="payments_txn_user_time"),
            models.Index(fields=["status", "kind", "created_at"], name="payments_txn_status"),
        ]
        constraints = [
            models.CheckConstraint(name="payments_txn_amount_positive", condition=models.Q(amount_fen__gt=0))
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_outgoing(self) -> bool:
        return self.kind in (self.Kind.WITHDRAWAL, self.Kind.TRANSFER_OUT, self.Kind.REVERSAL)

    @property
    def settlement_seconds(self) -> float | None:
        if self.settled_at is None:
            return None
        return (self.settled_at - self.created_at).total_seconds()


class TransactionEvent(models.Model):
    """The status timeline shown on the detail page (submitted, at the channel, succeeded, ...)."""

    class Step(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        AT_CHANNEL = "at_channel", _("Pending at the payment channel")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        REVERSED = "reversed", _("Reversed")
        QUERIED = "queried", _("Checked with the channel")

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="events")
    step = models.CharField(max_length=12, choices=Step.choices)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class ChannelMessage(models.Model):
    """Every inbound channel notification, stored raw before anything else happens to it."""

    class Verdict(models.TextChoices):
        RECEIVED = "received", "Received"
        ACCEPTED = "accepted", "Accepted (credited or settled)"
        DUPLICATE = "duplicate", "Duplicate (already applied)"
        REJECTED = "rejected", "Rejected"

    channel = models.CharField(max_length=20)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    remote_addr = models.CharField(max_length=45, blank=True)
    nonce = models.CharField(max_length=64, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, default=Verdict.RECEIVED)
    reason = models.CharField(max_length=60, blank=True)
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "nonce"], name="payments_msg_nonce")]


class ReconciliationRun(models.Model):
    channel = models.CharField(max_length=20)
    statement_date = models.DateField()
    rows_theirs = models.PositiveIntegerField(default=0)
    rows_ours = models.PositiveIntegerField(default=0)
    mismatches = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "statement_date"], name="payments_recon_once")
        ]


class ReconciliationMismatch(models.Model):
    """One difference between the channel's statement and our books, or an ops case (a reversal
    the wallet could not pay, ``run`` empty) for agents to resolve."""

    class Kind(models.TextChoices):
        MISSING_OURS = "missing_ours", _("Missing on our side")
        MISSING_THEIRS = "missing_theirs", _("Missing on the channel's side")
        AMOUNT_DIFFERS = "amount_differs", _("Amount differs")
        STATUS_DIFFERS = "status_differs", _("Status differs")
        REVERSAL_BLOCKED = "reversal_blocked", _("Reversal blocked (balance)")
        REFUND_OURS = "refund_ours", _("Refund missing on our side")
        REFUND_THEIRS = "refund_theirs", _("Refund missing on the channel's side")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    class Resolution(models.TextChoices):
        CREDITED = "credited", _("Missing deposit credited")
        CHANNEL_ERROR = "channel_error", _("Channel error")
        REVERSED = "reversed", _("Reversed later")
        MANUAL = "manual", _("Resolved by hand")

    run = models.ForeignKey(
        ReconciliationRun, null=True, blank=True, on_delete=models.CASCADE, related_name="items"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # For a refund item: ``reference`` is the channel's refund number, ``channel_ref`` the refunded
    # deposit's reference and ``channel_kind`` the statement's type (REFUND or CHARGEBACK).
    reference = models.CharField(max_length=32, blank=True)
    channel_ref = models.CharField(max_length=64, blank=True)
    channel_kind = models.CharField(max_length=16, blank=True, default="")
    ours_fen = models.BigIntegerField(null=True, blank=True)
    theirs_fen = models.BigIntegerField(null=True, blank=True)
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    resolution_note = models.CharField(max_length=300, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    ticket_number = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, null=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "kind"], name="payments_mismatch_status")]


class Reversal(models.Model):
    """An agent's correction of a posted deposit (refunded or charged back by the channel) or of
    a mistaken transfer between customers. It is paid by a new, compensating ledger transfer
    (``rev:<reference>``); the original transfer is never touched. Above the approval threshold a
    supervisor other than the requester approves first (four eyes)."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    class Reason(models.TextChoices):
        CHARGEBACK = "chargeback", _("Chargeback by the bank")
        CHANNEL_REFUND = "channel_refund", _("Refunded by the payment channel")
        MISTAKEN_TRANSFER = "mistaken_transfer", _("Mistaken transfer returned")
        OTHER = "other", _("Other correction")

    reference = models.CharField(max_length=32, unique=True)
    original = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="reversals")
    amount_fen = models.BigIntegerField()
    reason_code = models.CharField(max_length=20, choices=Reason.choices)
    reason = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices)
    key = models.CharField(max_length=64, blank=True, help_text="The form's or API client's idempotency key")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: reported by the payment channel (a refund or chargeback)",
    )
    channel_refund_id = models.CharField(
        max_length=64, blank=True, help_text="The channel's refund number, for refunds it reported"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=300, blank=True)
    failure_code = models.CharField(max_length=40, blank=True)
    debit_txn = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    credit_txn = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="payments_reversal_amount_positive", condition=models.Q(amount_fen__gt=0)
            ),
            models.UniqueConstraint(
                fields=["requested_by", "key"], condition=~models.Q(key=""), name="payments_reversal_key_once"
            ),
            models.UniqueConstraint(
                fields=["channel_refund_id"],
                condition=~models.Q(channel_refund_id=""),
                name="payments_reversal_channel_refund_once",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="payments_reversal_status")]

    def __str__(self) -> str:
        return self.reference

    @property
    def needs_approval(self) -> bool:
        return self.status == self.Status.PENDING_APPROVAL


class IdempotencyKey(models.Model):
    """A client-chosen ``Idempotency-Key`` of one API caller (customer or agent) and the answer
    the first request with it got (okwallet.payments.idempotency). Kept 24 hours."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=200)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="payments_idempotency_once")]
