from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from okwallet.accounts.models import ApiToken, User


@admin.register(User)
class OkUserAdmin(UserAdmin):
    list_display = ["username", "public_id", "display_name", "status", "is_staff", "date_joined"]
    list_filter = ["status", "is_staff", "groups"]
    search_fields = ["username", "public_id", "phone", "email", "display_name"]
    fieldsets = UserAdmin.fieldsets + (
        (
            "OK Wallet",
            {
                "fields": (
                    "public_id",
                    "phone",
                    "phone_verified",
                    "email_verified",
                    "display_name",
                    "status",
                    "preferred_language",
                )
            },
        ),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["key_hash"]
