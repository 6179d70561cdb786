from django.contrib import admin

from okwallet.contact.models import ContactChannel, OfficialIdentity


@admin.register(ContactChannel)
class ContactChannelAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "label_zh", "schedule", "enabled", "order"]
    list_editable = ["enabled", "order"]


@admin.register(OfficialIdentity)
class OfficialIdentityAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "note_zh"]
    search_fields = ["value"]
