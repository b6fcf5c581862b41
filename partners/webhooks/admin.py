"""Django admin for ecosystem admins: webhook endpoints (never their secrets) and deliveries."""

from django.contrib import admin, messages

from ecosystem.admin_helpers import ReadOnlyMixin
from ecosystem.refusals import refusal_as_message
from partners.webhooks.models import (
    ENDPOINT_DISCLOSED_FIELDS,
    Delivery,
    DeliveryAttempt,
    WebhookEndpoint,
)
from partners.webhooks.services import delivery_retry


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "partner", "url", "enabled", "disabled_reason", "failing_since")
    list_filter = ("partner", "enabled", "disabled_reason", "signature_scheme")
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
    list_filter = ("partner", "status", "event__type")
    list_select_related = ("partner", "endpoint", "event")
    search_fields = ("=id", "=event__id", "=endpoint__id", "=partner__id")
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
            with refusal_as_message(request, prefix=f"{delivery.pk}: ", level=messages.WARNING):
                delivery_retry(delivery=delivery, actor=request.user)
                retried += 1
        self.message_user(request, f"{retried} deliveries queued for another attempt.")
