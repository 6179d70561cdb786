"""Account closure: preconditions, cooling-off with cancel, the irreversible job, anonymisation.

Blockers come from the apps above through ``closure_blockers(user)`` hooks (payments: balance,
pending transactions, reconciliation mismatches; helpdesk: open dispute tickets).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from okwallet.accounts import conf
from okwallet.accounts.models import (
    ClosureRequest,
    KnownDevice,
    KnownNetwork,
    PasswordHistory,
    RealName,
    RecoveryCode,
    SecurityEvent,
    User,
    UserSession,
)
from okwallet.accounts.services import security_event_record
from okwallet.accounts.sessions import sessions_revoke_all
from okwallet.core import hooks
from okwallet.core.errors import OkError
from okwallet.core.notify import notification_send
from okwallet.core.timeutil import now_utc


def closure_blockers(user) -> list[dict]:
    blockers: list[dict] = []
    if user.status == User.Status.FROZEN:
        blockers.append(
            {
                "code": "account_frozen",
                "message": str(gettext_lazy("Unfreeze the account before closing it.")),
            }
        )
    for item in hooks.collect_flat("closure_blockers", user):
        blockers.append({"code": str(item.get("code", "blocked")), "message": str(item.get("message", ""))})
    return blockers


def closure_assert_possible(user) -> None:
    if user.status == User.Status.CLOSING:
        raise OkError(
            "closure_pending", gettext_lazy("Your account is already being closed."), http_status=409
        )
    blockers = closure_blockers(user)
    if blockers:
        raise OkError(
            "closure_blocked",
            gettext_lazy("The account can't be closed yet: %(reasons)s")
            % {"reasons": "; ".join(b["message"] for b in blockers)},
            http_status=409,
            details={"blockers": blockers},
        )


def pending_closure(user) -> ClosureRequest | None:
    return ClosureRequest.objects.filter(user=user, status=ClosureRequest.Status.PENDING).first()


def closure_request(*, user, reason: str = "", request=None) -> ClosureRequest:
    """Start the cooling-off period (the caller has passed step-up for 'closure')."""
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if locked.status == User.Status.CLOSING:
            raise OkError(
                "closure_pending", gettext_lazy("Your account is already being closed."), http_status=409
            )
        if locked.status == User.Status.CLOSED:
            raise OkError("account_closed", gettext_lazy("This account is closed."), http_status=409)
        closure_assert_possible(locked)
        days = conf.get("OKWALLET_CLOSURE_COOLING_OFF_DAYS")
        row = ClosureRequest.objects.create(
            user=locked,
            reason=(reason or "")[:300],
            effective_at=now_utc() + timedelta(days=days),
            previous_status=locked.status,
        )
        locked.status = User.Status.CLOSING
        locked.save(update_fields=["status"])
        user.status = locked.status
        security_event_record(
            user=locked,
            kind="closure_requested",
            request=request,
            details={"effective_at": row.effective_at.isoformat()},
        )
        notification_send(
            channel="sms",
            kind="closure_requested",
            user=locked,
            body=_(
                "[OK Wallet] You asked to close your account. It will be closed on %(date)s unless you cancel "
                "in Settings before then. If this wasn't you, log in and cancel, then call us."
            )
            % {"date": row.effective_at.strftime("%Y-%m-%d")},
        )
    return row


def closure_cancel(*, user, request=None) -> ClosureRequest:
    with transaction.atomic():
        row = (
            ClosureRequest.objects.select_for_update()
            .filter(user=user, status=ClosureRequest.Status.PENDING)
            .first()
        )
        if row is None:
            raise OkError(
                "no_pending_closure", gettext_lazy("There is no closure to cancel."), http_status=409
            )
        row.status = ClosureRequest.Status.CANCELLED
        row.cancelled_at = now_utc()
        row.save(update_fields=["status", "cancelled_at"])
        User.objects.filter(pk=user.pk, status=User.Status.CLOSING).update(status=User.Status.ACTIVE)
        user.status = User.Status.ACTIVE
        security_event_record(user=user, kind="closure_cancelled", request=request)
        notification_send(
            channel="sms",
            kind="closure_cancelled",
            user=user,
            body=_("[OK Wallet] The closure of your account was cancelled."),
        )
    return row


def closure_complete(*, row: ClosureRequest) -> bool:
    """Close one account whose cooling-off has ended (irreversible). False if blocked again."""
    with transaction.atomic():
        row = ClosureRequest.objects.select_for_update().select_related("user").get(pk=row.pk)
        if row.status != ClosureRequest.Status.PENDING:
            return False
        user = row.user
        blockers = closure_blockers(user)
        if blockers:
            row.effective_at = now_utc() + timedelta(days=1)
            row.save(update_fields=["effective_at"])
            security_event_record(
                user=user, kind="closure_delayed", actor=None, details={"blockers": blockers}
            )
            return False
        now = now_utc()
        row.status = ClosureRequest.Status.COMPLETED
        row.completed_at = now
        row.save(update_fields=["status", "completed_at"])
        user.status = User.Status.CLOSED
        user.closed_at = now
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["status", "closed_at", "is_active", "password"])
        sessions_revoke_all(user=user)
        from django_otp.plugins.otp_totp.models import TOTPDevice

        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        hooks.collect("on_account_closed", user)
        security_event_record(user=user, kind="account_closed", actor=None)
        body = _(
            "[OK Wallet] Your account (user ID %(id)s) is now closed. Records are kept as the law on "
            "anti-money-laundering requires, then deleted. Thank you for using OK Wallet."
        ) % {"id": user.public_id}
        notification_send(channel="sms", kind="account_closed", user=user, body=body)
        if user.email:
            notification_send(
                channel="email",
                kind="account_closed",
                user=user,
                body=body,
                subject=_("Your account is closed"),
            )
    return True


def closures_due(*, now=None) -> int:
    now = now or now_utc()
    done = 0
    for row in ClosureRequest.objects.filter(status=ClosureRequest.Status.PENDING, effective_at__lte=now):
        done += closure_complete(row=row)
    return done


def anonymise(*, user) -> None:
    """Remove personal data after the retention period; the row (and its user ID) stays, never reused."""
    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if user.anonymised_at is not None:
            return
        user.username = f"closed-{user.public_id or user.pk}"
        user.first_name = user.last_name = user.display_name = ""
        user.email = ""
        user.phone = None
        user.freeze_reason = ""
        user.anonymised_at = now_utc()
        user.save()
        RealName.objects.filter(user=user).delete()
        KnownDevice.objects.filter(user=user).delete()
        KnownNetwork.objects.filter(user=user).delete()
        UserSession.objects.filter(user=user).delete()
        PasswordHistory.objects.filter(user=user).delete()
        SecurityEvent.objects.filter(user=user).update(ip=None, user_agent="", details={})
        hooks.collect("on_account_anonymised", user)


def anonymise_due(*, now=None) -> int:
    now = now or now_utc()
    cutoff = now - timedelta(days=365 * conf.get("OKWALLET_RETENTION_YEARS") + 1)
    count = 0
    for user in User.objects.filter(
        status=User.Status.CLOSED, anonymised_at__isnull=True, closed_at__lte=cutoff
    ):
        anonymise(user=user)
        count += 1
    return count
