"""The partner console at /partner-admin/: a second AdminSite where a partner's staff see and
manage only their own partner. Every queryset is filtered to that partner first, so another
partner's object id behaves exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from ecosystem.admin_helpers import secret_keep, secret_take
from ecosystem.admin_site import ThrottledLoginForm, ThrottledLoginSite
from ecosystem.errors import ApplicationError
from ecosystem.models import User
from ecosystem.ratelimit import TALLY_DAYS
from ecosystem.refusals import refusal_as_message
from partners.console.webhooks import ConsoleDeliveryAdmin, ConsoleWebhookEndpointAdmin
from partners.models import Partner, PartnerClient
from partners.scopes import IDENTITY_SCOPES, SCOPES
from partners.selectors import clients_last_used
from partners.services.clients import (
    client_create,
    client_revoke,
    client_rotate_secret,
    client_set_redirect_uris,
    client_set_scopes,
    connect_client_create,
    redirect_uris_check,
)
from partners.webhooks.models import Delivery, WebhookEndpoint

CONSOLE_STATUSES = {Partner.Status.ACTIVE, Partner.Status.SUSPENDED}


def staff_partner(request: HttpRequest) -> Partner | None:
    user = request.user
    if not (user.is_active and getattr(user, "kind", None) == User.Kind.PARTNER_STAFF):
        return None
    staff = getattr(user, "partner_staff", None)
    return staff.partner if staff and staff.partner.status in CONSOLE_STATUSES else None


class ConsoleAuthenticationForm(ThrottledLoginForm):
    """Partner staff are not Django staff: allow them, and only them, in."""

    throttle_scope = "console"

    def confirm_login_allowed(self, user: User) -> None:
        staff = getattr(user, "partner_staff", None)
        if not (
            user.is_active
            and user.kind == User.Kind.PARTNER_STAFF
            and staff
            and staff.partner.status in CONSOLE_STATUSES
        ):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class PartnerConsoleSite(ThrottledLoginSite):
    site_header = "Partner console"
    site_title = "Partner console"
    index_title = "Your brand in the ecosystem"
    login_form = ConsoleAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return staff_partner(request) is not None

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        partner = staff_partner(request)
        if partner is not None and partner.status == Partner.Status.SUSPENDED:
            # On every console page: why nothing can be changed, and what else it means.
            context["console_banner"] = {
                "title": f"{partner.name} is suspended from the ecosystem.",
                "reason": partner.status_reason,
                "means": "Until an ecosystem admin reinstates it, its API calls and token "
                "requests are refused (partner_inactive), no customer data flows to or from "
                "it, and this console is read-only. Its clients, consents and partnerships "
                "are kept.",
            }
        return context

    def get_urls(self):
        return [
            path("quickstart/", self.admin_view(self.quickstart_view), name="quickstart"),
            *super().get_urls(),
        ]

    def quickstart_view(self, request: HttpRequest) -> HttpResponse:
        """The partner's first API call, with this gateway's address and the brand's own
        clients filled in (docs/partner-quickstart.md is the longer version)."""
        partner = staff_partner(request)
        assert partner is not None  # admin_view let only the partner's staff through
        client = (
            PartnerClient.objects.filter(partner=partner, revoked_at__isnull=True)
            .exclude(application__authorization_grant_type="authorization-code")  # connect
            .order_by("created_at", "id")
            .first()
        )
        return render(
            request,
            "partner_console/quickstart.html",
            {
                **self.each_context(request),
                "title": "Your first API call",
                "partner": partner,
                "client": client,
                "scopes": sorted(partner.scope_ceiling_set),
                "base": f"{request.scheme}://{request.get_host()}",
                "add_client_url": reverse("partner_console:partners_partnerclient_add"),
                "add_endpoint_url": reverse("partner_console:webhooks_webhookendpoint_add"),
            },
        )


console_site = PartnerConsoleSite(name="partner_console")


class PartnerScopedAdminMixin:
    """Filters every queryset to the signed-in staff member's partner; permissions follow
    from being that partner's staff (the site has already checked that)."""

    partner_field = "partner"

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)  # type: ignore[misc]
        partner = staff_partner(request)
        return queryset.filter(**{self.partner_field: partner.pk if partner else None})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return staff_partner(request) is not None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return staff_partner(request) is not None

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        partner = staff_partner(request)
        return partner is not None and partner.is_active

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Partner, site=console_site)
class ProfileAdmin(PartnerScopedAdminMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    partner_field = "pk"
    fields = (
        "name",
        "slug",
        "sector",
        "status",
        "scope_ceiling",
        "website",
        "description",
        "contact_name",
        "contact_email",
        "address",
        "phone",
        "privacy_notice_url",
    )
    readonly_fields = ("name", "slug", "sector", "status", "scope_ceiling", "contact_email")
    list_display = ("name", "status", "sector")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


def _secret_page(request: HttpRequest, client: PartnerClient, secret: str | None) -> HttpResponse:
    """The only place a secret is ever shown: the first view of this page after it was
    issued, to this user. A reload (or any later visit) shows the client without it."""
    response = render(
        request,
        "partner_console/client_secret.html",
        {
            **console_site.each_context(request),
            "client": client,
            "secret": secret,
            "title": f"Secret of {client.name}" if secret else client.name,
            "clients_url": reverse("partner_console:partners_partnerclient_changelist"),
            "rotate_url": reverse("partner_console:partner-client-rotate", args=[client.pk]),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def _secret_key(client: PartnerClient) -> str:
    return f"client:{client.pk}"


def _to_secret_page(request: HttpRequest, client: PartnerClient, secret: str) -> HttpResponse:
    secret_keep(request, key=_secret_key(client), secret=secret)
    return HttpResponseRedirect(reverse("partner_console:partner-client-secret", args=[client.pk]))


def _rotate_and_revoke(client: PartnerClient, *, revoked: str, css: str):
    """The client's two actions as links (a list cell, or buttons on its page)."""
    if client.is_revoked:
        return revoked
    return format_html(
        '<span class="client-actions"><a class="{}" href="{}">Rotate secret</a> '
        '<a class="{}" href="{}">Revoke</a></span>',
        css,
        reverse("partner_console:partner-client-rotate", args=[client.pk]),
        css,
        reverse("partner_console:partner-client-revoke", args=[client.pk]),
    )


CLIENT_KINDS = [
    ("server", "Server to server: your backend calls the API (client credentials)"),
    (
        "connect",
        "Connect: customers sign in and consent on the gateway (authorization code + PKCE)",
    ),
]


class ClientForm(forms.ModelForm):
    kind = forms.ChoiceField(
        choices=CLIENT_KINDS,
        initial="server",
        required=False,
        widget=forms.RadioSelect,
        label="Kind",
    )
    redirect_uris = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Redirect URIs",
        help_text="Connect clients only: one per line, matched exactly. https only (http to "
        "127.0.0.1 in local development).",
    )
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = PartnerClient
        fields = ["name", "scopes"]

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        api_scopes = [(s, f"{s} — {SCOPES[s]}") for s in SCOPES if s in partner.scope_ceiling_set]
        self.fields["scopes"].choices = api_scopes + [
            (s, f"{s} — {text} (connect clients only)") for s, text in IDENTITY_SCOPES.items()
        ]
        if not api_scopes:
            self.fields["scopes"].help_text = (
                "Your brand has no API scopes yet: an ecosystem admin sets which scopes its "
                "clients may hold. Ask them, then come back."
            )
        # Prefixed ids exist from instantiation, so "is this new?" is _state.adding, not pk.
        if not self.instance._state.adding:
            self.initial["scopes"] = sorted(self.instance.scope_set)
            self.fields["name"].disabled = True
            connect = self.instance.is_connect
            self.initial["kind"] = "connect" if connect else "server"
            self.fields["kind"].disabled = True
            self.initial["redirect_uris"] = "\n".join(
                self.instance.application.redirect_uris.split()
            )
            self.fields["redirect_uris"].disabled = not connect

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["kind"] = kind = data.get("kind") or "server"
        scopes = set(data.get("scopes") or ())
        if kind == "server" and scopes & set(IDENTITY_SCOPES):
            self.add_error("scopes", "openid, profile and email are for connect clients only.")
        if kind == "server" and (data.get("redirect_uris") or "").strip():
            self.add_error("redirect_uris", "Only connect clients have redirect URIs.")
        if kind == "connect" and "redirect_uris" not in self.errors:
            try:
                redirect_uris_check((data.get("redirect_uris") or "").split())
            except ApplicationError as refused:
                self.add_error("redirect_uris", refused.detail)
        return data


@admin.register(PartnerClient, site=console_site)
class ClientAdmin(PartnerScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "id", "kind", "scope_chips", "last_used", "state", "client_actions")
    list_select_related = ("application",)
    readonly_fields = ("id", "created_at", "secret_rotated_at", "revoked_at", "actions_links")

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        # One cache round trip for the page's clients, kept on the very instances the rows
        # render (the list's queryset is evaluated here once and reused).
        clients = list(changelist.result_list)
        used = clients_last_used([client.pk for client in clients])
        for client in clients:
            client.last_used_at = used[client.pk]  # type: ignore[attr-defined]
        return changelist

    @admin.display(description="Kind")
    def kind(self, obj: PartnerClient) -> str:
        return "Connect" if obj.is_connect else "Server to server"

    @admin.display(description="Scopes")
    def scope_chips(self, obj: PartnerClient):
        scopes = sorted(obj.scope_set)
        if not scopes:
            return "None"
        return format_html(
            '<ul class="scope-chips">{}</ul>',
            format_html_join("", "<li>{}</li>", ((scope,) for scope in scopes)),
        )

    @admin.display(description="Last used")
    def last_used(self, obj: PartnerClient):
        used = getattr(obj, "last_used_at", None)
        if used is None:
            return f"Not in the last {TALLY_DAYS - 1} days"
        return format_html('<time datetime="{}">{} ago</time>', used.isoformat(), timesince(used))

    @admin.display(description="Actions")
    def client_actions(self, obj: PartnerClient):
        return _rotate_and_revoke(obj, revoked="Revoked: no actions", css="")

    def get_fields(self, request: HttpRequest, obj: Any = None):
        return ("name", "kind", "redirect_uris", "scopes") + (self.readonly_fields if obj else ())

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        partner = staff_partner(request)

        class BoundClientForm(ClientForm):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, partner=partner, **kw)

        return BoundClientForm

    @admin.display(description="State")
    def state(self, obj: PartnerClient) -> str:
        return "revoked" if obj.is_revoked else "active"

    @admin.display(description="Secret and access")
    def actions_links(self, obj: PartnerClient):
        return _rotate_and_revoke(
            obj, revoked="Revoked: this client can no longer get or use tokens.", css="button"
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and not (obj and obj.is_revoked)

    def save_model(self, request: HttpRequest, obj: PartnerClient, form: Any, change: bool) -> None:
        scopes = set(form.cleaned_data["scopes"])
        redirect_uris = form.cleaned_data.get("redirect_uris", "").split()
        if change:
            client_set_scopes(client=obj, scopes=scopes, actor=request.user)
            if obj.is_connect and "redirect_uris" in form.changed_data:
                client_set_redirect_uris(
                    client=obj, redirect_uris=redirect_uris, actor=request.user
                )
            return
        if form.cleaned_data["kind"] == "connect":
            created, secret = connect_client_create(
                partner=staff_partner(request),
                name=obj.name,
                scopes=scopes,
                redirect_uris=redirect_uris,
                actor=request.user,
            )
        else:
            created, secret = client_create(
                partner=staff_partner(request), name=obj.name, scopes=scopes, actor=request.user
            )
        obj.pk = created.pk
        request._new_client_secret = secret  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: PartnerClient, post_url_continue: Any = None):
        # Post/redirect/get: the secret page is a GET, so reloading it creates nothing.
        self.message_user(request, f"{obj.name} was created.", messages.SUCCESS)
        return _to_secret_page(request, obj, request._new_client_secret)  # type: ignore[attr-defined]

    def get_urls(self):
        # These three take the raw cli_… id, not the admin's quote()d form (these views do
        # not unquote; a cli_ id is URL-safe as it is).
        return [
            path(
                "<str:object_id>/secret/",
                self.admin_site.admin_view(self.secret_view),
                name="partner-client-secret",
            ),
            path(
                "<str:object_id>/rotate/",
                self.admin_site.admin_view(self.rotate_view),
                name="partner-client-rotate",
            ),
            path(
                "<str:object_id>/revoke/",
                self.admin_site.admin_view(self.revoke_view),
                name="partner-client-revoke",
            ),
            *super().get_urls(),
        ]

    def _confirm(self, request: HttpRequest, object_id: str, verb: str, warning: str, act):
        client = self.get_object(request, object_id)
        if client is None or not self.has_change_permission(request, client):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST":
            with refusal_as_message(request):
                return act(client)
            clients = reverse("partner_console:partners_partnerclient_changelist")
            return HttpResponseRedirect(clients)
        return render(
            request,
            "partner_console/confirm.html",
            {
                **self.admin_site.each_context(request),
                "client": client,
                "verb": verb,
                "warning": warning,
                "title": f"{verb} {client.name}",
            },
        )

    def secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        client = self.get_object(request, object_id)
        if client is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return _secret_page(request, client, secret_take(request, key=_secret_key(client)))

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def act(client: PartnerClient) -> HttpResponse:
            secret = client_rotate_secret(client=client, actor=request.user)
            self.message_user(
                request, f"The secret of {client.name} was rotated.", messages.SUCCESS
            )
            return _to_secret_page(request, client, secret)

        return self._confirm(
            request,
            object_id,
            "Rotate the secret of",
            "The current secret stops working at once; tokens already issued "
            "keep working until they expire.",
            act,
        )

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def act(client: PartnerClient) -> HttpResponse:
            client_revoke(client=client, actor=request.user)
            self.message_user(request, f"{client.name} was revoked.", messages.SUCCESS)
            return HttpResponseRedirect(
                reverse("partner_console:partners_partnerclient_changelist")
            )

        return self._confirm(
            request,
            object_id,
            "Revoke",
            "Its tokens stop working at once and it can get no new ones. This cannot be undone.",
            act,
        )


# Webhook endpoints and deliveries (partners.webhooks); their console admins find the
# partner through the signed-in staff member, like the ones above. Each exchange registers
# its own pages on this site from its admin module (exchanges/referrals/console.py).
console_site.register(WebhookEndpoint, ConsoleWebhookEndpointAdmin)
console_site.register(Delivery, ConsoleDeliveryAdmin)
