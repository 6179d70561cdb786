from django.contrib import admin

from okwallet.antifraud.models import AppRelease, ScamReport
from okwallet.antifraud.services import scam_report_ticket


@admin.register(ScamReport)
class ScamReportAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "kind",
        "value",
        "lost_money",
        "official_match",
        "status",
        "ticket_number",
        "created_at",
    ]
    list_filter = ["kind", "status", "lost_money", "official_match"]
    search_fields = ["reference", "value", "message", "ticket_number"]
    readonly_fields = ["raw", "ip", "reference", "created_at", "reporter"]
    actions = ["open_tickets"]

    @admin.action(description="Open security tickets for the selected reports")
    def open_tickets(self, request, queryset):
        opened = sum(bool(scam_report_ticket(report_id=r.pk)) for r in queryset)
        self.message_user(request, f"{opened} tickets opened.")


@admin.register(AppRelease)
class AppReleaseAdmin(admin.ModelAdmin):
    list_display = ["platform", "min_supported", "latest", "updated_at"]
