"""Live chat: conversations, their numbered messages, participants and read receipts.

Every message is a row before anyone sees it; ``seq`` numbers a conversation's messages 1, 2,
3, ... (allocated under a lock on the conversation row), so a client that reconnects with
``last_seq`` gets exactly what it missed, and ``client_id`` makes a re-sent frame idempotent.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def new_public_id() -> str:
    return secrets.token_hex(10)


class Topic(models.TextChoices):
    """Chat queues, named like the helpdesk categories the transcripts are filed under."""

    GENERAL = "other", _("General questions")
    PASSWORD = "password", _("Password and login")
    DEPOSIT = "deposit", _("Deposits")
    WITHDRAWAL = "withdrawal", _("Withdrawals")
    TRANSFER = "transfer", _("Transfers")
    SECURITY = "security", _("Account security / fraud")
    ACCOUNT_CLOSURE = "account_closure", _("Closing an account")
    COMPLAINT = "complaint", _("Complaints")


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", _("With the assistant")
        QUEUED = "queued", _("Waiting for an agent")
        ACTIVE = "active", _("With an agent")
        ENDED = "ended", _("Ended")
        OFFLINE = "offline", _("Message left outside hours")

    class Via(models.TextChoices):
        WEB = "web", _("Website")
        APP = "app", _("App")

    OPEN_STATUSES = (Status.BOT, Status.QUEUED, Status.ACTIVE)

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="chats"
    )
    # Anonymous visitors hold a random key (kept by the widget); only its hash is stored.
    visitor_hash = models.CharField(max_length=64, blank=True, db_index=True)
    visitor_name = models.CharField(max_length=80, blank=True)
    via = models.CharField(max_length=8, choices=Via.choices, default=Via.WEB)
    lang = models.CharField(max_length=10, default="zh-hans")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOT, db_index=True)
    topic = models.CharField(max_length=20, choices=Topic.choices, default=Topic.GENERAL)
    # The helpdesk queue the topic routes to (chat.topics); positions and assignment are per queue.
    queue = models.CharField(max_length=30, default="general")
    # Who set the topic: "customer" (the picker), "bot" (read from their words), "agent" (a
    # transfer) or "" (the default). The assistant never overrides the customer's choice.
    topic_source = models.CharField(max_length=10, blank=True)
    priority = models.PositiveSmallIntegerField(default=0)  # higher first; 10 = aged 60+
    priority_reason = models.CharField(max_length=40, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="agent_chats",
    )
    last_seq = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=10, blank=True)  # customer|agent|system
    ticket_number = models.CharField(max_length=20, blank=True, db_index=True)
    category = models.CharField(max_length=20, blank=True)
    csat_score = models.PositiveSmallIntegerField(null=True, blank=True)
    csat_comment = models.TextField(blank=True)
    transcript_sent_to = models.CharField(max_length=254, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "queue", "-priority", "queued_at"], name="chat_queue_idx"),
            models.Index(fields=["customer", "status"], name="chat_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"chat {self.public_id}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def queue_label(self) -> str:
        """The queue's name for staff (the helpdesk's)."""
        from okwallet.chat.topics import queue_name

        return queue_name(self.queue)

    @property
    def group_name(self) -> str:
        return f"chat.c.{self.pk}"


class Message(models.Model):
    class Sender(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        AGENT = "agent", _("Agent")
        BOT = "bot", _("Assistant")
        SYSTEM = "system", _("System")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    sender = models.CharField(max_length=10, choices=Sender.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    # Exactly what was received (escaped on output, never rendered as HTML).
    body = models.TextField(blank=True)
    # Internal notes (transfer notes, supervisor whispers) are never sent to the customer.
    internal = models.BooleanField(default=False)
    client_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)  # bot answer link, buttons, event kind
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="chat_msg_seq_once"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="chat_msg_client_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq}"


class Participant(models.Model):
    class Role(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        AGENT = "agent", _("Agent")
        SUPERVISOR = "supervisor", _("Supervisor")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    role = models.CharField(max_length=12, choices=Role.choices)
    silent = models.BooleanField(default=False)  # a supervisor listening in
    last_read_seq = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "role"],
                condition=models.Q(role="customer"),
                name="chat_one_customer_participant",
            ),
            models.UniqueConstraint(
                fields=["conversation", "user"],
                condition=models.Q(user__isnull=False),
                name="chat_participant_once",
            ),
        ]


def _attachment_path(instance, filename: str) -> str:
    return f"chat/{instance.conversation.public_id}/{secrets.token_hex(8)}"


class Attachment(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="attachments")
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.CASCADE)
    file = models.FileField(upload_to=_attachment_path)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)


class CannedReply(models.Model):
    title = models.CharField(max_length=120)
    body = models.TextField()
    lang = models.CharField(max_length=10, default="zh-hans")
    topic = models.CharField(max_length=20, blank=True)  # blank: any queue
    shortcut = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class AgentChatState(models.Model):
    """An agent's chat availability, shared by every server through the database.

    ``auto_accept`` is the agent's "available for chats" switch: with it on, while a console
    socket of theirs is connected and their helpdesk presence is online, waiting chats of their
    queues are assigned to them up to their concurrency limit. ``last_seen_at`` moves on every
    socket connect, heartbeat and disconnect; an agent with chats and no live socket for longer
    than the grace period has them put back in the queue."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="chat_state"
    )
    auto_accept = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)  # round-robin among equals
    updated_at = models.DateTimeField(auto_now=True)


class AgentSocket(models.Model):
    """One open console socket (any server); ``seen_at`` is refreshed by a heartbeat, so the
    sockets of a server that died go stale instead of counting as connected for ever."""

    channel_name = models.CharField(max_length=200, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    connected_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "seen_at"], name="chat_agentsocket_user_idx")]
