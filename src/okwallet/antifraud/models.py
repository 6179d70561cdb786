from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScamReport(models.Model):
    """A report of a suspicious number, link or message. Stored as received, then a ticket
    is opened in the security queue (helpdesk) when that app is installed."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone call or SMS number")
        URL = "url", _("Website or link")
        EMAIL = "email", _("Email address")
        MESSAGE = "message", _("Message (WeChat, QQ, SMS text…)")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        TICKETED = "ticketed", _("Ticket opened")
        REVIEWED = "reviewed", _("Reviewed")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(_("number, link or address"), max_length=500, blank=True)
    message = models.TextField(_("what they said or sent"), max_length=5000, blank=True)
    lost_money = models.BooleanField(_("money was lost"), default=False)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reporter_contact = models.CharField(max_length=200, blank=True)
    raw = models.JSONField(default=dict, help_text=_("The submission exactly as received"))
    ip = models.GenericIPAddressField(null=True, blank=True)
    official_match = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW, db_index=True)
    ticket_number = models.CharField(max_length=30, blank=True)
    reference = models.CharField(max_length=20, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.reference} {self.kind} {self.value[:40]}"


class AppRelease(models.Model):
    """Minimum supported and latest app version per platform, so the app can prompt to update."""

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        HARMONY = "harmony", "HarmonyOS"

    platform = models.CharField(max_length=10, choices=Platform.choices, unique=True)
    min_supported = models.CharField(max_length=20)
    latest = models.CharField(max_length=20)
    download_url = models.URLField(blank=True)
    notes_zh = models.CharField(max_length=300, blank=True)
    notes_en = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.platform} {self.min_supported}–{self.latest}"
