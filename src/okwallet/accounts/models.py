import hashlib
import secrets

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """Customers and staff. Customers sign in with their phone number, email or user ID;
    staff with a username. ``public_id`` is the user ID a customer reads out to support."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        CLOSING = "closing", _("Closure pending")
        CLOSED = "closed", _("Closed")

    public_id = models.CharField(_("user ID"), max_length=10, unique=True, null=True, blank=True)
    phone = models.CharField(_("mobile number"), max_length=20, unique=True, null=True, blank=True)
    phone_verified = models.BooleanField(default=False)
    email_verified = models.BooleanField(default=False)
    display_name = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    preferred_language = models.CharField(max_length=10, default="zh-hans")
    frozen_at = models.DateTimeField(null=True, blank=True)
    freeze_reason = models.CharField(max_length=300, blank=True)
    sms_second_factor = models.BooleanField(
        _("SMS code as second factor"), default=False, help_text=_("Ask for an SMS code after the password.")
    )
    password_changed_at = models.DateTimeField(null=True, blank=True)
    password_reminder_days = models.PositiveIntegerField(
        default=0, help_text=_("Remind me to change my password after this many days (0 = never).")
    )
    contact_bounced = models.CharField(
        max_length=10, blank=True, help_text=_("'sms' or 'email' when messages to it bounced.")
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    anonymised_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    class Meta:
        indexes = [
            models.Index(fields=["email"], name="user_email_idx"),
            # email__iexact (sign-in by email, the helpdesk's customer search) is
            # UPPER(email) = UPPER(%s) on PostgreSQL: without this it scans every customer.
            models.Index(Upper("email"), name="user_email_upper_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_customer(self) -> bool:
        return not self.is_staff

    @property
    def audit_label(self) -> str:
        return self.username


class ApiToken(models.Model):
    """Bearer tokens for the mobile app. Only a hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80, default="app")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "app") -> tuple["ApiToken", str]:
        key = "okw_" + secrets.token_urlsafe(32)
        return cls.objects.create(user=user, name=name, key_hash=cls.hash_key(key)), key

    def __str__(self) -> str:
        return f"{self.user} / {self.name}"


class RealName(models.Model):
    """Real-name verification (实名认证). The full ID number is never stored: only what the
    product needs (birth date, last 6 characters, a keyed hash to stop one identity opening
    many accounts)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="realname")
    name = models.CharField(max_length=60)
    id_hash = models.CharField(max_length=64, unique=True)
    id_last6 = models.CharField(max_length=6)
    birth_date = models.DateField()
    gender = models.CharField(max_length=1, blank=True)
    provider = models.CharField(max_length=40)
    provider_reference = models.CharField(max_length=80, blank=True)
    sources = models.JSONField(default=list, help_text=_("Verification sources, e.g. identity, bank_card"))
    verified_at = models.DateTimeField()

    class Meta:
        verbose_name = _("real-name verification")

    def __str__(self) -> str:
        return f"{self.masked_name} ({self.user_id})"

    @property
    def masked_name(self) -> str:
        from okwallet.accounts.masking import mask_name

        return mask_name(self.name)

    @property
    def id_last4(self) -> str:
        return self.id_last6[-4:]


class OneTimeCode(models.Model):
    """A 6-digit code sent by SMS or email. Only a hash is kept; at most 5 tries; 5 minutes."""

    class Purpose(models.TextChoices):
        SIGNUP = "signup", _("Sign-up")
        LOGIN = "login", _("Log-in second factor")
        RESET = "reset", _("Password reset")
        STEP_UP = "step_up", _("Security check")
        VERIFY_EMAIL = "verify_email", _("Email verification")
        CONTACT_OLD = "contact_old", _("Contact change (current)")
        CONTACT_NEW = "contact_new", _("Contact change (new)")

    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    target = models.CharField(max_length=200, db_index=True)  # E.164 phone or email address
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["target", "purpose", "-created_at"], name="otc_lookup_idx")]


class SecurityEvent(models.Model):
    """The customer's security history (also written to the audit log)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="security_events")
    kind = models.CharField(max_length=40, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class KnownDevice(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_devices")
    device_hash = models.CharField(max_length=64)
    label = models.CharField(max_length=120, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "device_hash"], name="known_device_unique")]


class KnownNetwork(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_networks")
    network = models.CharField(max_length=64)  # 203.0.113.0/24 or 2001:db8:1::/48
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "network"], name="known_network_unique")]


class PasswordHistory(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class UserSession(models.Model):
    """One signed-in browser session, so the customer can see and revoke it.

    ``ip`` is where it signed in; ``last_seen`` / ``last_ip`` its latest activity, written by
    ``SessionActivityMiddleware`` at most once per ``OKWALLET_SESSION_ACTIVITY_SECONDS``."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(default=timezone.now)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class RecoveryCode(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)


class StepUpGrant(models.Model):
    """A passed security check, valid for a few minutes for one purpose in one session or app token."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=40)
    holder = models.CharField(max_length=80, db_index=True)  # "s:<session key>" or "t:<token id>"
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class ResetGrant(models.Model):
    """Proof that identity verification for a password reset passed; single use."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class ClosureRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Cooling off")
        CANCELLED = "cancelled", _("Cancelled")
        COMPLETED = "completed", _("Closed")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="closure_requests")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=300, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    effective_at = models.DateTimeField(db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    previous_status = models.CharField(max_length=10, default="active")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(status="pending"), name="one_pending_closure"
            )
        ]
