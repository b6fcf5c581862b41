from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from ecosystem.admin_helpers import ReadOnlyMixin
from ecosystem.models import AuditEntry, Email, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "kind", "is_active", "is_staff", "date_joined")
    list_filter = ("kind", "is_active", "is_staff")
    search_fields = ("username",)
    ordering = ("username",)
    fieldsets = (
        (None, {"fields": ("username", "password", "kind")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "kind", "password1", "password2")}),
    )
    readonly_fields = ("last_login", "date_joined")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("at", "action", "object_type", "object_id", "actor", "request_id")
    list_filter = ("action", "object_type")
    search_fields = ("=object_id", "=actor", "=request_id")
    date_hierarchy = "at"


@admin.register(Email)
class EmailAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The email outbox, read-only: what was sent, when and how often it was tried. The
    sealed recipients and body are never shown, nor whom the email is about."""

    list_display = ("id", "kind", "status", "attempts", "next_attempt_at", "created_at", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("=id",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_error",
        "created_at",
        "sent_at",
    )
