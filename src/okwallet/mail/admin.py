from django.contrib import admin

from okwallet.mail.models import (
    AddressState,
    MailAttachment,
    MailboxState,
    MailThread,
    OutboundMessage,
    RawMessage,
)


class MailAttachmentInline(admin.TabularInline):
    model = MailAttachment
    extra = 0
    fields = ("filename", "content_type", "size", "inline", "skipped_reason")
    readonly_fields = fields
    can_delete = False


@admin.register(RawMessage)
class RawMessageAdmin(admin.ModelAdmin):
    list_display = ("received_at", "status", "kind", "from_addr", "subject", "ticket_number", "source")
    list_filter = ("status", "kind", "source")
    search_fields = ("message_id", "from_addr", "subject", "ticket_number")
    date_hierarchy = "received_at"
    exclude = ("raw",)
    readonly_fields = [
        f.name for f in RawMessage._meta.fields if f.name not in ("raw", "status", "status_reason")
    ]
    inlines = [MailAttachmentInline]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "status", "attempts", "to_addr", "ticket_number", "last_error")
    list_filter = ("status", "kind")
    search_fields = ("to_addr", "ticket_number", "message_id", "subject")
    readonly_fields = ("message_id", "source_ref", "sent_at", "created_at")


@admin.register(MailboxState)
class MailboxStateAdmin(admin.ModelAdmin):
    list_display = ("mailbox", "uidvalidity", "last_uid", "messages_seen", "last_polled_at", "last_error")


@admin.register(AddressState)
class AddressStateAdmin(admin.ModelAdmin):
    list_display = ("address", "bouncing", "bounce_count", "last_bounce_at", "last_bounce_reason")
    list_filter = ("bouncing",)
    search_fields = ("address",)


@admin.register(MailThread)
class MailThreadAdmin(admin.ModelAdmin):
    list_display = ("number", "subject", "requester_email", "status", "created_at")
    search_fields = ("number", "requester_email", "subject")
