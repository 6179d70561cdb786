"""Hotline calls, their raw webhooks, CTI events, callback requests, voicemails and agent lines.

A ``Call`` is the provider-neutral state of one phone call: where it is in the IVR
(``node``), what the caller keyed in (``digits``, ``ivr_path``), who they are (``customer``)
and how it ended (``outcome``). Every request a provider sends is first stored raw as a
``WebhookEvent``; the unique ``dedupe_key`` makes a redelivered webhook a no-op that answers
with the stored response.
"""

from __future__ import annotations

import copy

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def raw_text(raw: bytes) -> str:
    """The raw request body as storable text: undecodable bytes become U+FFFD and NUL (which
    PostgreSQL text columns refuse) is written as the escape ``\\x00``, so nothing aborts the insert."""
    return raw.decode("utf-8", "replace").replace("\x00", "\\x00")


class WebhookEvent(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        REJECTED = "rejected", _("Rejected (bad signature)")
        FAILED = "failed", _("Failed")

    provider = models.CharField(max_length=20)  # twilio | cti
    kind = models.CharField(max_length=30)  # incoming, gather, status, wait, queue, bridge, recording, cti
    call_sid = models.CharField(max_length=64, blank=True, db_index=True)
    dedupe_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    url = models.TextField(blank=True)
    method = models.CharField(max_length=8, default="POST")
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    signature_valid = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.provider}/{self.kind} {self.call_sid} {self.status}"


class Call(models.Model):
    class Status(models.TextChoices):
        IVR = "ivr", _("In the menu")
        DIALLING = "dialling", _("Dialling out")
        QUEUED = "queued", _("Waiting for an agent")
        CONNECTED = "connected", _("With an agent")
        ENDED = "ended", _("Ended")

    class Outcome(models.TextChoices):
        NONE = "", _("—")
        ANSWERED = "answered", _("Answered by an agent")
        ABANDONED_IVR = "abandoned_ivr", _("Hung up in the menu")
        ABANDONED_QUEUE = "abandoned_queue", _("Hung up while waiting")
        VOICEMAIL = "voicemail", _("Left a voicemail")
        CALLBACK = "callback", _("Asked for a callback")
        FROZEN = "frozen", _("Account frozen by phone")
        NOT_REACHED = "not_reached", _("Callback not answered")
        SELF_SERVICE = "self_service", _("Ended in self-service")
        FAILED = "failed", _("Failed")

    class Topic(models.TextChoices):
        NONE = "", _("Not chosen")
        DEPOSIT = "deposit", _("Deposits and withdrawals")
        SECURITY = "security", _("Password and account security")
        COMPLAINT = "complaint", _("Complaints")
        CLOSURE = "account_closure", _("Account closure")
        PERSON = "person", _("Speak to a person")

    provider = models.CharField(max_length=20, default="twilio")
    call_sid = models.CharField(max_length=64, unique=True)
    direction = models.CharField(max_length=10, default="inbound")
    from_number = models.CharField(max_length=32, blank=True)
    to_number = models.CharField(max_length=32, blank=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    identified_by = models.CharField(max_length=20, blank=True)  # caller_id | user_id | ""
    language = models.CharField(max_length=5, default="zh")  # zh | en
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IVR, db_index=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default="")
    topic = models.CharField(max_length=20, choices=Topic.choices, blank=True, default="")
    queue = models.CharField(max_length=20, blank=True, db_index=True)
    priority = models.BooleanField(default=False)
    node = models.CharField(max_length=30, default="start")
    seq = models.PositiveIntegerField(default=0)
    retries = models.PositiveSmallIntegerField(default=0)
    ivr_path = models.JSONField(default=list, blank=True)
    digits = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    reference = models.CharField(max_length=64, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(db_index=True)
    asked_person_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_s = models.PositiveIntegerField(null=True, blank=True)
    ticket_number = models.CharField(max_length=30, blank=True)
    wrapup_notes = models.TextField(blank=True)
    wrapup_agreed = models.TextField(blank=True)
    wrapup_next_step = models.TextField(blank=True)
    wrapped_up_at = models.DateTimeField(null=True, blank=True)
    summary_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["status", "queue", "-priority", "queued_at"], name="voice_call_wait_idx")
        ]
        permissions = [("view_call_dashboard", "Can see hotline supervisor figures")]

    def __str__(self) -> str:
        return f"{self.call_sid} {self.status}"

    # --- one write per webhook: changed fields only, the timeline in one INSERT -------------
    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded = {
            name: copy.deepcopy(value) if isinstance(value, dict | list) else value
            for name, value in zip(field_names, values, strict=True)
        }
        return instance

    def changed_fields(self) -> list[str]:
        """Concrete fields whose value differs from what was loaded (all of them when new)."""
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            return [f.attname for f in self._meta.concrete_fields]
        return [
            f.attname
            for f in self._meta.concrete_fields
            if f.attname in loaded and loaded[f.attname] != getattr(self, f.attname)
        ]

    def buffer_events(self) -> None:
        """From now on ``call_event_add`` collects this call's events until ``save_changes``."""
        self._pending_events = getattr(self, "_pending_events", None) or []

    def save_changes(self) -> None:
        """INSERT a new call, UPDATE only the fields that changed (nothing when none did), then
        write the buffered timeline events with one bulk INSERT."""
        if self.pk is None:
            self.save()
        else:
            fields = [name for name in self.changed_fields() if name != "id"]
            if fields:
                self.save(update_fields=fields)
        self._loaded = {
            f.attname: copy.deepcopy(v) if isinstance(v := getattr(self, f.attname), dict | list) else v
            for f in self._meta.concrete_fields
        }
        pending = getattr(self, "_pending_events", None)
        if pending:
            for event in pending:
                event.call_id = self.pk
            CallEvent.objects.bulk_create(pending)
            pending.clear()

    @property
    def is_ended(self) -> bool:
        return self.status == self.Status.ENDED

    @property
    def wait_seconds(self) -> int | None:
        if self.queued_at is None:
            return None
        end = self.answered_at or self.ended_at
        if end is None:
            from okwallet.core.timeutil import now_utc

            end = now_utc()
        return max(0, int((end - self.queued_at).total_seconds()))


class CallEvent(models.Model):
    """The call's timeline in provider-neutral terms (ringing, ivr, queued, answered, ended, ...)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    at = models.DateTimeField(db_index=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]


class CallbackRequest(models.Model):
    """A caller asked to be called back: the dialler (``voice/dialler.py``) works it to an end.

    queued → dialling → connected → done; an unanswered leg → no_answer, dialled again after a
    back-off, up to ``OKWALLET_VOICE_CALLBACK_MAX_ATTEMPTS`` times → failed. Staff may cancel one
    or put it back in the queue. ``next_attempt_at`` is when the dialler may take it next.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DIALLING = "dialling", _("Dialling")
        CONNECTED = "connected", _("Connected")
        DONE = "done", _("Done")
        NO_ANSWER = "no_answer", _("No answer (will retry)")
        FAILED = "failed", _("Not reached")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = ("queued", "dialling", "connected", "no_answer")
    DUE = ("queued", "no_answer")

    call = models.OneToOneField(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="callback"
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    phone = models.CharField(max_length=32)
    topic = models.CharField(max_length=20, blank=True)
    priority = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    requested_at = models.DateTimeField(db_index=True)
    not_before = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_result = models.CharField(max_length=20, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    ticket_number = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["-priority", "requested_at", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="voice_callback_due_idx")]

    def __str__(self) -> str:
        return f"callback {self.pk} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class CallbackAttempt(models.Model):
    """One outbound leg of a callback: the provider's call to the customer, bridged to an agent.

    ``call`` is the leg's row in the call log (``direction="outbound"``; as for every call,
    ``from_number`` is the customer's side). ``result`` is the provider's final status
    (``completed``, ``no-answer``, ``busy``, ``failed``, ``canceled``) or ours
    (``agent_no_answer``, ``provider_error``, ``lost``).
    """

    class Status(models.TextChoices):
        DIALLING = "dialling", _("Dialling")
        CONNECTED = "connected", _("Connected")
        ENDED = "ended", _("Ended after talking")
        UNANSWERED = "unanswered", _("Not answered")

    callback = models.ForeignKey(CallbackRequest, on_delete=models.CASCADE, related_name="legs")
    number = models.PositiveSmallIntegerField()
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    call = models.OneToOneField(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="callback_leg"
    )
    provider = models.CharField(max_length=20, blank=True)
    provider_sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DIALLING, db_index=True)
    result = models.CharField(max_length=20, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["callback_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["callback", "number"], name="voice_callback_leg_number_uniq")
        ]

    def __str__(self) -> str:
        return f"callback {self.callback_id} leg {self.number} {self.status}"


class Voicemail(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="voicemails")
    recording_sid = models.CharField(max_length=64, unique=True)
    recording_url = models.URLField(max_length=500)
    duration_s = models.PositiveIntegerField(default=0)
    topic = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(db_index=True)
    ticket_number = models.CharField(max_length=30, blank=True)
    handled = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]


class AgentLine(models.Model):
    """An agent's phone state: ready for calls or not, and the call they are on."""

    agent = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_line"
    )
    ready = models.BooleanField(default=False)
    current_call = models.ForeignKey(Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
