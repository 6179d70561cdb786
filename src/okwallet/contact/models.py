from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class ContactChannel(models.Model):
    """The one source of truth for how customers reach us. The footer, the contact page,
    ``GET /api/v1/contact``, the IVR and the official-channel verifier all read it."""

    class Kind(models.TextChoices):
        HOTLINE = "hotline", _("Hotline")
        CHAT = "chat", _("Live chat")
        EMAIL = "email", _("Email")
        SECURITY = "security", _("24/7 security line")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(
        max_length=120,
        blank=True,
        help_text=_("Phone number (e.g. 400-820-1234), email address, or empty for chat"),
    )
    schedule = models.CharField(
        max_length=40, help_text=_("Service-hours schedule key: hotline, chat, email, complaints, security")
    )
    label_zh = models.CharField(max_length=80)
    label_en = models.CharField(max_length=80)
    text_zh = models.TextField(blank=True)
    text_en = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    reply_promise_working_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("For email: reply within this many working days")
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.label_en} {self.value}".strip()

    @property
    def label(self) -> str:
        return self.label_en if (get_language() or "").startswith("en") else self.label_zh

    @property
    def text(self) -> str:
        return self.text_en if (get_language() or "").startswith("en") else self.text_zh


class OfficialIdentity(models.Model):
    """Phone numbers, domains and email addresses that really are OK Wallet's, beyond the
    contact channels (e.g. the numbers our outbound calls and SMS come from)."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone number")
        DOMAIN = "domain", _("Website domain")
        EMAIL = "email", _("Email address or domain")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=200)
    note_zh = models.CharField(max_length=200, blank=True)
    note_en = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="official_identity_unique")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"
