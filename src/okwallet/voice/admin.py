from django.contrib import admin

from okwallet.voice.models import AgentLine, Call, CallbackRequest, Voicemail, WebhookEvent


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["call_sid", "started_at", "status", "outcome", "queue", "agent"]
    list_filter = ["status", "outcome", "queue"]
    search_fields = ["call_sid", "ticket_number"]
    raw_id_fields = ["customer", "agent"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "provider", "kind", "call_sid", "status", "signature_valid"]
    list_filter = ["provider", "kind", "status"]
    search_fields = ["call_sid", "dedupe_key"]


admin.site.register(CallbackRequest)
admin.site.register(Voicemail)
admin.site.register(AgentLine)
