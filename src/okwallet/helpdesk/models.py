"""Tickets for every channel, their messages, SLAs, routing queues, complaints, CSAT and webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    WEB = "web", _("Web form")
    EMAIL = "email", _("Email")
    CHAT = "chat", _("Live chat")
    PHONE = "phone", _("Hotline")
    VOICEMAIL = "voicemail", _("Voicemail")
    API = "api", _("App / API")


class Category(models.TextChoices):
    PASSWORD = "password", _("Password and login")
    DEPOSIT = "deposit", _("Deposit")
    WITHDRAWAL = "withdrawal", _("Withdrawal")
    TRANSFER = "transfer", _("Transfer")
    SECURITY = "security", _("Account security")
    ACCOUNT_CLOSURE = "account_closure", _("Account closure")
    COMPLAINT = "complaint", _("Complaint")
    SUGGESTION = "suggestion", _("Suggestion")
    OTHER = "other", _("Other")


class Priority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Waiting for customer")
    ON_HOLD = "on_hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)


class Queue(models.Model):
    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin")
        LEAST_LOADED = "least_loaded", _("Least loaded")
        MANUAL = "manual", _("Manual")

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=80)
    name_en = models.CharField(max_length=80, blank=True)
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.LEAST_LOADED)
    schedule = models.CharField(max_length=20, default="email", help_text="hours schedule code for SLAs")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="helpdesk_queues")
    restricted = models.BooleanField(
        default=False, help_text="only members (and supervisors) may see tickets"
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class DailySequence(models.Model):
    """One row per local day; ticket numbers take the next value with one upsert statement."""

    day = models.CharField(max_length=6, primary_key=True)  # yymmdd, Asia/Shanghai
    last = models.PositiveIntegerField(default=0)


class Ticket(models.Model):
    number = models.CharField(max_length=16, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    source_ref = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    subject = models.CharField(max_length=200)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="tickets")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    requester_name = models.CharField(max_length=100, blank=True)
    requester_email = models.EmailField(blank=True)
    requester_phone = models.CharField(max_length=20, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    tags = models.JSONField(default=list, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_reply_at = models.DateTimeField(null=True, blank=True)
    # SLA clocks (business time of the queue's schedule); paused while pending the customer.
    first_response_due = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    next_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    sla_remaining = models.JSONField(default=dict, blank=True)  # minutes left per clock at pause
    sla_warned = models.BooleanField(default=False)
    sla_breached = models.BooleanField(default=False)
    breach_kinds = models.JSONField(default=list, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # Complaints (投诉): deadlines the customer was told, extension, outcome.
    complaint_first_contact_due = models.DateTimeField(null=True, blank=True)
    complaint_first_contact_at = models.DateTimeField(null=True, blank=True)
    complaint_outcome_due = models.DateTimeField(null=True, blank=True)
    complaint_extended_at = models.DateTimeField(null=True, blank=True)
    complaint_extension_reason = models.TextField(blank=True)
    outcome = models.TextField(blank=True)
    outcome_recorded_at = models.DateTimeField(null=True, blank=True)
    search_tokens = models.TextField(blank=True)  # jieba tokens, space separated (tsvector / FTS5)

    class Meta:
        indexes = [
            models.Index(fields=["status", "queue", "-created_at"], name="hd_ticket_status_queue"),
            models.Index(fields=["assignee", "status"], name="hd_ticket_assignee"),
            models.Index(fields=["customer", "-created_at"], name="hd_ticket_customer"),
            models.Index(fields=["status", "resolution_due"], name="hd_ticket_due"),
            models.Index(fields=["-created_at", "-id"], name="hd_ticket_recent"),
            # The dashboard's 30-day figures and backlog read only these columns: index-only scans
            # on PostgreSQL (INCLUDE is skipped where unsupported, leaving plain created_at indexes).
            models.Index(
                fields=["created_at"],
                include=[
                    "channel",
                    "category",
                    "first_responded_at",
                    "first_response_due",
                    "solved_at",
                    "resolution_due",
                ],
                name="hd_ticket_created_cover",
            ),
            models.Index(
                fields=["created_at"],
                include=[
                    "sla_breached",
                    "assignee",
                    "category",
                    "complaint_first_contact_due",
                    "complaint_first_contact_at",
                    "complaint_outcome_due",
                    "outcome_recorded_at",
                ],
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
                name="hd_ticket_open_cover",
            ),
            models.Index(
                fields=["complaint_first_contact_due", "complaint_outcome_due"],
                condition=models.Q(category="complaint", status__in=["new", "open", "pending", "on_hold"]),
                name="hd_ticket_open_complaints",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "source_ref"],
                condition=~models.Q(source_ref=""),
                name="hd_ticket_source_once",
            )
        ]
        permissions = [
            ("view_dashboard", "Can view the supervisor dashboard"),
            ("reveal_pii", "Can reveal customer contact data"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_complaint(self) -> bool:
        return self.category == Category.COMPLAINT

    @property
    def requester_label(self) -> str:
        if self.customer_id:
            return str(self.customer)
        return self.requester_name or self.requester_email or self.requester_phone


class TicketMessage(models.Model):
    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        AGENT = "agent", _("Agent reply")
        NOTE = "note", _("Internal note")
        SYSTEM = "system", _("System")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    public = models.BooleanField(default=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    source_ref = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    body_html = models.TextField(blank=True)  # sanitised with nh3 before it is stored
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="hd_msg_ticket")]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "source_ref"], condition=~models.Q(source_ref=""), name="hd_msg_source_once"
            )
        ]


def _attachment_path(instance, filename: str) -> str:
    return f"helpdesk/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        TicketMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)


class TicketEvent(models.Model):
    """The timeline besides messages: status changes, assignments, SLA warnings, escalations."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=40)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    LABELS = {
        "created": _("Ticket created"),
        "status": _("Status changed"),
        "assigned": _("Assigned"),
        "unassigned": _("Handed back to the queue"),
        "reopened": _("Reopened by the customer"),
        "updated": _("Details changed"),
        "linked": _("Linked"),
        "merged": _("Ticket merged in"),
        "merged_into": _("Merged into another ticket"),
        "sla_warning": _("Deadline close"),
        "sla_breached": _("Deadline missed"),
        "escalated": _("Escalated"),
        "complaint_extended": _("Outcome deadline extended"),
        "outcome": _("Outcome recorded"),
        "csat": _("Customer rated the service"),
    }

    @property
    def label(self):
        return self.LABELS.get(self.kind, self.kind)


class TicketLink(models.Model):
    class Kind(models.TextChoices):
        RELATED = "related", _("Related ticket")
        TRANSACTION = "transaction", _("Transaction")
        MERGED = "merged", _("Merged ticket")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    other = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "kind", "other", "reference"], name="hd_link_once")
        ]


class SlaPolicy(models.Model):
    """Targets in business minutes of the ticket queue's schedule. category/priority blank = any."""

    category = models.CharField(max_length=20, blank=True, choices=Category.choices)
    priority = models.PositiveSmallIntegerField(null=True, blank=True, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField()
    next_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()
    warn_before_minutes = models.PositiveIntegerField(default=60)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["category", "priority"], name="hd_sla_once")]
        verbose_name_plural = "SLA policies"


class AgentPresence(models.Model):
    class State(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence")
    status = models.CharField(max_length=10, choices=State.choices, default=State.OFFLINE)
    chat_capacity = models.PositiveSmallIntegerField(default=3)
    ticket_capacity = models.PositiveSmallIntegerField(default=30)
    updated_at = models.DateTimeField(auto_now=True)


class Macro(models.Model):
    """Canned reply. Variables are ``{customer_name}``, ``{ticket_number}``, ``{reply_deadline}``,
    ``{agent_name}``; filled by plain substitution, never rendered as a template."""

    title = models.CharField(max_length=100)
    body = models.TextField()
    category = models.CharField(max_length=20, blank=True, choices=Category.choices)
    set_status = models.CharField(max_length=10, blank=True, choices=Status.choices)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.title


class CsatResponse(models.Model):
    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="csat")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class CustomerSearchKey(models.Model):
    """Helpdesk's own lookup index for the 360 search: last 4 digits of the phone + name, where the
    name is the display name or the verified real name (what a caller gives on the phone)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    phone_last4 = models.CharField(max_length=4, db_index=True)
    name = models.CharField(max_length=100, blank=True)
    real_name = models.CharField(max_length=60, blank=True)

    class Meta:
        indexes = [models.Index(fields=["phone_last4", "name"], name="hd_csk_last4_name")]


class WebhookEndpoint(models.Model):
    url = models.URLField()
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list, blank=True, help_text="empty = every event")
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
