"""The email channel's own records.

``RawMessage`` is written before anything is parsed, so nothing that reached us is ever lost;
``OutboundMessage`` is the outbox (acknowledgements and agent replies) with retries;
``MailboxState`` remembers where the IMAP poller stopped; ``AddressState`` remembers which
addresses bounce. ``MailThread`` is the ticket stand-in used while the helpdesk app does not
provide ``ticket_create`` yet (see ``okwallet.mail.tickets``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RawMessage(models.Model):
    class Source(models.TextChoices):
        SMTP = "smtp", _("SMTP")
        LMTP = "lmtp", _("LMTP")
        IMAP = "imap", _("IMAP")
        UPLOAD = "upload", _("Upload")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored (automatic mail)")
        FLAGGED = "flagged", _("Flagged for an agent")
        FAILED = "failed", _("Failed")

    # "mid:<Message-ID>" or "sha256:<hash>" when the Message-ID is missing.
    idempotency_key = models.CharField(max_length=255, unique=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    raw = models.BinaryField()
    size = models.PositiveIntegerField()
    source = models.CharField(max_length=8, choices=Source.choices)
    # Which mailbox, listener or upload it came through (e.g. "imap:support@127.0.0.1/INBOX").
    source_detail = models.CharField(max_length=200, blank=True)
    envelope_from = models.CharField(max_length=320, blank=True)
    envelope_to = models.CharField(max_length=1000, blank=True)
    received_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    # Facts read by the parser, for lists and threading without re-parsing.
    from_addr = models.CharField(max_length=320, blank=True, db_index=True)
    from_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    kind = models.CharField(max_length=12, blank=True)  # classify.Kind
    flags = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)  # what the customer wrote now (quotes stripped)
    html_sanitized = models.TextField(blank=True)
    thread_by = models.CharField(max_length=20, blank=True)  # in_reply_to|references|subject_tag|new
    ticket_number = models.CharField(max_length=20, blank=True, db_index=True)
    ticket_message_ref = models.CharField(max_length=60, blank=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged = models.BooleanField(default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["from_addr", "received_at"], name="mail_raw_from_recv_idx")]
        permissions = [("manage_mail", "Can retry and resolve email channel messages")]

    def __str__(self) -> str:
        return f"{self.message_id or self.sha256[:12]} ({self.status})"


class MailAttachment(models.Model):
    """An attachment or inline image, stored within the parser's size limits.

    Oversized parts are recorded with ``skipped_reason`` and no content, so the agent knows
    something was there (the raw message still has it)."""

    message = models.ForeignKey(RawMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=255, blank=True)
    content = models.BinaryField(null=True, blank=True)
    skipped_reason = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.filename


class MailThread(models.Model):
    """Stand-in ticket while ``okwallet.helpdesk.services.ticket_create`` is missing."""

    number = models.CharField(max_length=20, unique=True)
    subject = models.CharField(max_length=998, blank=True)
    channel = models.CharField(max_length=10, default="email")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requester_email = models.CharField(max_length=320, blank=True)
    requester_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, default="open")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.number


class OutboundMessage(models.Model):
    class Kind(models.TextChoices):
        ACK = "ack", _("Acknowledgement")
        REPLY = "reply", _("Agent reply")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Not sent")

    kind = models.CharField(max_length=6, choices=Kind.choices)
    # Idempotency: "ack:<raw id>" or "reply:<ticket message id>".
    source_ref = models.CharField(max_length=80, unique=True)
    message_id = models.CharField(max_length=255, unique=True)
    ticket_number = models.CharField(max_length=20, blank=True, db_index=True)
    to_addr = models.CharField(max_length=320)
    from_addr = models.CharField(max_length=320)
    subject = models.CharField(max_length=998)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.ticket_number} → {self.to_addr} ({self.status})"


class MailboxState(models.Model):
    """Where the IMAP poller stopped in one mailbox folder (RFC 3501 UID + UIDVALIDITY)."""

    mailbox = models.CharField(max_length=300, unique=True)  # "user@host:port/folder"
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    messages_seen = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.mailbox} @ {self.uidvalidity}/{self.last_uid}"


class AddressState(models.Model):
    """Deliverability of one address we write to; bounces mark it, a later customer mail clears it."""

    address = models.CharField(max_length=320, unique=True)
    bouncing = models.BooleanField(default=False, db_index=True)
    bounce_count = models.PositiveIntegerField(default=0)
    last_bounce_at = models.DateTimeField(null=True, blank=True)
    last_bounce_reason = models.CharField(max_length=500, blank=True)
    bounce_message = models.ForeignKey(
        RawMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.address} ({'bouncing' if self.bouncing else 'ok'})"
