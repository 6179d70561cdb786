from django.contrib import admin

from okwallet.helpdesk.models import (
    AgentPresence,
    CsatResponse,
    Macro,
    Queue,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketMessage,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "strategy", "schedule", "restricted"]
    filter_horizontal = ["members"]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "category",
        "priority",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "warn_before_minutes",
    ]


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ["title", "category", "active"]
    list_filter = ["active", "category"]


@admin.register(AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ["user", "status", "ticket_capacity", "chat_capacity", "updated_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "active", "events"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["endpoint", "event", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "event"]
    readonly_fields = ["payload", "last_error"]


class MessageInline(admin.TabularInline):
    model = TicketMessage
    extra = 0
    fields = ["kind", "public", "author", "channel", "body", "created_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["number", "subject", "category", "status", "priority", "queue", "assignee", "created_at"]
    list_filter = ["status", "category", "queue", "channel"]
    search_fields = ["number", "subject", "requester_email"]
    raw_id_fields = ["customer", "assignee", "merged_into"]
    readonly_fields = ["number", "search_tokens", "created_at", "updated_at"]
    inlines = [MessageInline]
    show_full_result_count = False


admin.site.register(TicketEvent)
admin.site.register(CsatResponse)
