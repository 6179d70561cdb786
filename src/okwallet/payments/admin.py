from django.contrib import admin, messages

from okwallet.payments.models import (
    ChannelMessage,
    ReconciliationMismatch,
    ReconciliationRun,
    Reversal,
    Transaction,
)
from okwallet.payments.reconciliation import mismatch_resolve


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ("reference", "kind", "status", "amount_fen", "method", "channel_ref", "created_at")
    list_filter = ("kind", "status", "method")
    search_fields = ("reference", "channel_ref")
    readonly_fields = [f.name for f in Transaction._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChannelMessage)
class ChannelMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "verdict", "reason", "transaction", "received_at")
    list_filter = ("channel", "verdict", "reason")
    readonly_fields = [f.name for f in ChannelMessage._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False


class MismatchInline(admin.TabularInline):
    model = ReconciliationMismatch
    extra = 0
    readonly_fields = (
        "kind",
        "reference",
        "channel_ref",
        "ours_fen",
        "theirs_fen",
        "status",
        "resolved_by",
        "resolution_note",
    )
    can_delete = False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = ("statement_date", "channel", "rows_theirs", "rows_ours", "mismatches", "created_at")
    inlines = [MismatchInline]


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(admin.ModelAdmin):
    list_display = ("reference", "kind", "ours_fen", "theirs_fen", "status", "resolved_by", "resolved_at")
    list_filter = ("status", "kind")
    search_fields = ("reference", "channel_ref")
    readonly_fields = (
        "run",
        "kind",
        "reference",
        "channel_ref",
        "ours_fen",
        "theirs_fen",
        "transaction",
        "status",
        "resolved_by",
        "resolved_at",
    )
    actions = ["resolve"]

    @admin.action(description="Mark resolved (audited)")
    def resolve(self, request, queryset):
        for item in queryset:
            mismatch_resolve(
                mismatch_id=item.pk,
                actor=request.user,
                note=f"resolved in admin by {request.user}",
                request=request,
            )
        messages.info(request, f"{queryset.count()} resolved")


@admin.register(Reversal)
class ReversalAdmin(admin.ModelAdmin):
    """Read-only: reversals are requested and approved in the agent console (audited there)."""

    list_display = (
        "reference",
        "original",
        "amount_fen",
        "status",
        "reason_code",
        "requested_by",
        "decided_by",
    )
    list_filter = ("status", "reason_code")
    search_fields = ("reference", "original__reference")
    readonly_fields = [f.name for f in Reversal._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
