from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from ecosystem.admin_helpers import ReadOnlyMixin
from ecosystem.errors import ApplicationError
from ecosystem.models import AuditEntry, Delivery, DeliveryAttempt, Email, User, WebhookEndpoint
from ecosystem.models.webhooks import ENDPOINT_DISCLOSED_FIELDS
from ecosystem.webhooks.services import delivery_retry


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


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "partner", "url", "enabled", "disabled_reason", "failing_since")
    list_filter = ("enabled", "disabled_reason", "signature_scheme")
    list_select_related = ("partner",)
    search_fields = ("=id", "url", "=partner__id")
    # The signing secrets are never shown, not even to ecosystem admins.
    fields = ("partner", *ENDPOINT_DISCLOSED_FIELDS)


class DeliveryAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "at", "status_code", "latency_ms", "error", "response_body")
    extra = 0


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "partner",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event__type")
    list_select_related = ("partner", "endpoint", "event")
    search_fields = ("=id", "=event__id", "=payload__public_id", "=endpoint__id", "=partner__id")
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["retry"]
    exclude = ("payload",)

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.action(description="Retry the selected deliveries now")
    def retry(self, request, queryset):
        retried = 0
        for delivery in queryset:
            try:
                delivery_retry(delivery=delivery, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{delivery.pk}: {exc.detail}", messages.WARNING)
            else:
                retried += 1
        self.message_user(request, f"{retried} deliveries queued for another attempt.")


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
