"""Webhook pages for the partner console (the site is built in partners.console.site).

Register them on the console site::

    console_site.register(WebhookEndpoint, ConsoleWebhookEndpointAdmin)
    console_site.register(Delivery, ConsoleDeliveryAdmin)

The console site decides who may enter; these classes show a signed-in staff member only
their own partner's rows, found by ``partner_for(request)`` (override it if the console
exposes the partner differently). Every change goes through the webhook services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from ecosystem import ssrf
from ecosystem.admin_helpers import secret_keep, secret_take
from ecosystem.refusals import refusal_as_message
from partners.webhooks import services
from partners.webhooks.models import (
    EVENT_TYPES,
    SUBSCRIBABLE_EVENT_TYPES,
    Delivery,
    DeliveryAttempt,
    WebhookEndpoint,
)
from partners.webhooks.selectors import webhook_endpoints_for


class PartnerScopedAdmin(admin.ModelAdmin):
    """Rows of the signed-in staff member's partner only. Staff of a partner that is not
    active (suspended) may look but not change anything; anyone else sees nothing (the
    console's login page lists the registered models before anyone has signed in)."""

    def partner_for(self, request: HttpRequest) -> Any | None:
        """The staff member's partner, or None: the one place that knows how it is found."""
        staff = getattr(request.user, "partner_staff", None)
        return staff.partner if staff is not None else None

    def partner_id_for(self, request: HttpRequest) -> str | None:
        partner = self.partner_for(request)
        return partner.pk if partner is not None else None

    def _partner_id_or_deny(self, request: HttpRequest) -> str:
        partner_id = self.partner_id_for(request)
        if partner_id is None:
            raise PermissionDenied
        return partner_id

    def partner_may_change(self, request: HttpRequest) -> bool:
        partner = self.partner_for(request)
        return partner is not None and partner.is_active

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(partner_id=self.partner_id_for(request))

    def _own(self, request: HttpRequest, obj: Any) -> bool:
        partner_id = self.partner_id_for(request)
        return partner_id is not None and (obj is None or obj.partner_id == partner_id)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.partner_for(request) is not None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own(request, obj)


# The form's groups of event types, by what the events are about (the type's first word).
EVENT_GROUPS = {
    "customer": "Customers and their links",
    "consent": "Consents",
    "referral": "Referrals",
    "reward": "Rewards",
    "offer": "Offers",
}


def _grouped_event_types() -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in SUBSCRIBABLE_EVENT_TYPES:
        label = EVENT_GROUPS.get(name.split(".", 1)[0], "Other")
        groups.setdefault(label, []).append((name, f"{name}: {EVENT_TYPES[name]}"))
    return list(groups.items())


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        label="URL",
        help_text="Where the gateway POSTs each event, signed: https, a public address.",
    )
    all_events = forms.BooleanField(
        required=False,
        label="All events",
        help_text="Send every event type below to this endpoint.",
    )
    event_types = forms.MultipleChoiceField(
        choices=_grouped_event_types,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Event types",
        help_text="Or tick the ones this endpoint handles.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "enabled", "signature_scheme"]

    partner_id = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            every = set(self.instance.event_types) >= set(SUBSCRIBABLE_EVENT_TYPES)
            self.initial["all_events"] = every

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if url != self.instance.url:
            try:
                url = ssrf.check_url(url).url  # the host in ASCII (IDNA), as it is stored
            except ssrf.WebhookUrlNotAllowed as exc:
                raise forms.ValidationError(exc.detail) from None
        return url

    def clean(self) -> dict[str, Any] | None:
        if self.cleaned_data.get("all_events"):
            self.cleaned_data["event_types"] = list(SUBSCRIBABLE_EVENT_TYPES)
        elif "event_types" in self.cleaned_data and not self.cleaned_data["event_types"]:
            self.add_error("event_types", "Tick All events, or at least one event type.")
        if self.instance._state.adding:
            existing = webhook_endpoints_for(partner_id=self.partner_id).count()
            if existing >= services.MAX_ENDPOINTS_PER_PARTNER:
                raise forms.ValidationError(services.WebhookEndpointLimitReached.title)
        return super().clean()


class ConsoleWebhookEndpointAdmin(PartnerScopedAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "state", "signature_scheme", "created_at")
    list_filter = ("enabled",)
    readonly_fields = ("id", "state", "public_key", "created_at")
    actions = ["rotate_secret", "send_test_ping"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        editable = ("url", "description", "all_events", "event_types", "enabled")
        if obj is None:
            return (*editable, "signature_scheme")
        return (*editable, *self.get_readonly_fields(request, obj))

    @admin.display(description="State")
    def state(self, endpoint: WebhookEndpoint) -> str:
        """One plain sentence: on, on but failing, or off and who switched it off."""
        if endpoint.enabled and endpoint.failing_since:
            return (
                f"On, but failing since {endpoint.failing_since:%-d %b %Y, %H:%M} UTC: "
                "the gateway keeps retrying"
            )
        if endpoint.enabled:
            return "On"
        why = WebhookEndpoint.GATEWAY_OFF_BECAUSE.get(endpoint.disabled_reason)
        return f"Off: {why}, so the gateway stopped sending" if why else "Off: switched off by you"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.partner_may_change(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own(request, obj) and self.partner_may_change(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._own(request, obj) and self.partner_may_change(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The signature scheme is chosen once, when the endpoint is created.
        return self.readonly_fields + (("signature_scheme",) if obj else ())

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"partner_id": self.partner_id_for(request)})

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.webhook_endpoint_update(
                endpoint=obj,
                actor=request.user,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
            )
            return
        endpoint, secret = services.webhook_endpoint_create(
            partner_id=self._partner_id_or_deny(request),
            actor=request.user,
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            enabled=data["enabled"],
            signature_scheme=data["signature_scheme"],
        )
        obj.pk, obj.public_key = endpoint.pk, endpoint.public_key
        obj._state.adding = False
        if secret:
            secret_keep(request, key=_secret_key(endpoint.pk), secret=secret)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None):
        # Post/redirect/get: a reload of the page with the secret re-posts nothing.
        if obj.signature_scheme == WebhookEndpoint.SignatureScheme.ED25519:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"Endpoint created: {obj.url}", messages.SUCCESS)
        return self._to_secrets_page([obj.pk])

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.webhook_endpoint_delete(endpoint=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_delete(endpoint=endpoint, actor=request.user)

    def get_urls(self):
        return [
            path(
                "secrets/",
                self.admin_site.admin_view(self.secrets_view),
                name="webhook-endpoint-secrets",
            ),
            *super().get_urls(),
        ]

    def _to_secrets_page(self, endpoint_ids: list[str]) -> HttpResponse:
        url = reverse(f"{self.admin_site.name}:webhook-endpoint-secrets")
        return HttpResponseRedirect(f"{url}?ids={','.join(endpoint_ids)}")

    def secrets_view(self, request: HttpRequest) -> HttpResponse:
        """The signing secrets just issued, each shown on its first view only (the ids in the
        URL name endpoints, never secrets); a reload shows the endpoints without them."""
        ids = request.GET.get("ids", "").split(",")[: services.MAX_ENDPOINTS_PER_PARTNER]
        endpoints = self.get_queryset(request).filter(pk__in=ids)
        rows = [
            {"endpoint": e, "secret": secret_take(request, key=_secret_key(e.pk))}
            for e in endpoints
        ]
        response = render(
            request,
            "partner_console/webhook_secrets.html",
            {
                **self.admin_site.each_context(request),
                "rows": rows,
                "title": "Webhook signing secrets",
                "opts": self.opts,
                "endpoints_url": reverse(
                    f"{self.admin_site.name}:{self.opts.app_label}_webhookendpoint_changelist"
                ),
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        shown = []
        for endpoint in queryset:
            endpoint, secret = services.webhook_endpoint_rotate_secret(
                endpoint=endpoint, actor=request.user
            )
            self.message_user(request, f"{endpoint.url}: secret rotated.")
            if secret:
                secret_keep(request, key=_secret_key(endpoint.pk), secret=secret)
                shown.append(endpoint.pk)
        return self._to_secrets_page(shown) if shown else None

    @admin.action(description="Send a test ping", permissions=["change"])
    def send_test_ping(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            with refusal_as_message(request, prefix=f"{endpoint.url}: ", level=messages.WARNING):
                delivery = services.webhook_endpoint_test(endpoint=endpoint, actor=request.user)
                self.message_user(request, f"{endpoint.url}: ping queued as {delivery.pk}.")


def _secret_key(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}"


class EndpointFilter(admin.SimpleListFilter):
    """The partner's own endpoints only (the stock filter would list every partner's)."""

    title = "endpoint"
    parameter_name = "endpoint"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        endpoints = webhook_endpoints_for(partner_id=model_admin.partner_id_for(request))
        return [(endpoint.pk, endpoint.url) for endpoint in endpoints.only("id", "url")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(endpoint_id=self.value()) if self.value() else queryset


class ConsoleDeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "at", "status_code", "latency_ms", "error", "response_body")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


class ConsoleDeliveryAdmin(PartnerScopedAdmin):
    list_display = ("id", "event_type", "endpoint_url", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "event__type", EndpointFilter)
    list_select_related = ("event", "endpoint", "payload")
    search_fields = ("=id", "=payload__public_id")
    fields = (
        "id",
        "event_id_for_partner",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
    )
    readonly_fields = fields
    inlines = [ConsoleDeliveryAttemptInline]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return self.partner_may_change(request)

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="event id")
    def event_id_for_partner(self, delivery: Delivery) -> str:
        return delivery.payload.public_id  # the partner's own id, never the internal one

    @admin.display(description="endpoint")
    def endpoint_url(self, delivery: Delivery) -> str:
        return delivery.endpoint.url

    @admin.action(description="Retry the selected deliveries now", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        for delivery in queryset:
            with refusal_as_message(request, prefix=f"{delivery.pk}: ", level=messages.WARNING):
                services.delivery_retry(delivery=delivery, actor=request.user)
                self.message_user(request, f"{delivery.pk}: queued for another attempt.")
