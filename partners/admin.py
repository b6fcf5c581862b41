"""Django admin for ecosystem admins: partners, partnerships and their flows, and the
purposes and data categories the flows are written in.

Status changes and flows go through the services, so the same rules, audit rows and
reactions in the layers above apply as everywhere else; admin actions report each row's
outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect

from ecosystem.admin_helpers import run_per_row, status_badge
from ecosystem.errors import ApplicationError
from partners.models import (
    DataCategory,
    Partner,
    PartnerClient,
    Partnership,
    PartnershipFlow,
    Purpose,
)
from partners.scopes import SCOPES, format_scopes
from partners.services import partners as partner_services
from partners.services.partnerships import (
    FlowSpec,
    partnership_activate,
    partnership_create,
    partnership_end,
    partnership_set_flows,
    partnership_set_terms,
)


def service_action(name: str, verb: str, description: str, service: Callable[..., Any]):
    """An admin action that calls ``service(<model name>=row, actor=user)`` on each row."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        keyword = queryset.model._meta.model_name
        run_per_row(
            modeladmin,
            request,
            queryset,
            verb,
            lambda obj: service(**{keyword: obj}, actor=request.user),
        )

    action.__name__ = name
    return admin.action(description=description)(action)


class ScopeCeilingField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            choices=[(s, f"{s} — {d}") for s, d in SCOPES.items()], required=False, **kwargs
        )


class PartnerAdminForm(forms.ModelForm):
    scope_ceiling = ScopeCeilingField(help_text="Scopes this partner's clients may be given.")
    website = forms.URLField(max_length=200, required=False, assume_scheme="https")

    class Meta:
        model = Partner
        fields = [
            "name",
            "sector",
            "website",
            "description",
            "contact_name",
            "contact_email",
            "scope_ceiling",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["scope_ceiling"] = self.instance.scope_ceiling.split()

    def clean_scope_ceiling(self) -> str:
        return format_scopes(self.cleaned_data["scope_ceiling"])


class PartnerClientInline(admin.TabularInline):
    model = PartnerClient
    fields = ("id", "name", "scopes", "created_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = PartnerAdminForm
    list_display = ("name", "slug", "sector", "status_display", "created_at", "approved_at")
    list_filter = ("status", "sector")
    search_fields = ("name", "slug", "=contact_email")
    readonly_fields = ("id", "slug", "status", "status_reason", "created_at", "approved_at")
    inlines = [PartnerClientInline]
    actions = [
        service_action(
            "approve",
            "approved",
            "Approve selected partners (emails a console link)",
            partner_services.partner_approve,
        ),
        service_action(
            "reject", "rejected", "Reject selected applications", partner_services.partner_reject
        ),
        service_action(
            "suspend",
            "suspended",
            "Suspend selected partners (their calls are refused at once)",
            partner_services.partner_suspend,
        ),
        service_action(
            "reinstate",
            "reinstated",
            "Reinstate selected partners",
            partner_services.partner_reinstate,
        ),
        service_action(
            "offboard",
            "offboarded",
            "Offboard selected partners (revokes clients, ends partnerships)",
            partner_services.partner_offboard,
        ),
    ]
    ordering = ("name",)

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Partner):
        return status_badge(obj.status, obj.get_status_display())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # partners apply through /partners/apply/ or the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # offboard instead: history and consents must keep their partner


class FlowInlineForm(forms.ModelForm):
    data_categories = forms.ModelMultipleChoiceField(
        queryset=DataCategory.objects.all(), widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = PartnershipFlow
        fields = ["source", "recipient", "purpose", "data_categories"]


class FlowInline(admin.TabularInline):
    model = PartnershipFlow
    form = FlowInlineForm
    extra = 1

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "purpose":
            kwargs["queryset"] = Purpose.objects.filter(single_partner=False)
        if db_field.name in {"source", "recipient"}:
            kwargs["queryset"] = Partner.objects.filter(status=Partner.Status.ACTIVE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PartnershipAdminForm(forms.ModelForm):
    class Meta:
        model = Partnership
        fields = ["partner_a", "partner_b", "valid_from", "valid_until", "terms"]
        labels = {"partner_a": "Partner", "partner_b": "Other partner"}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        a, b = cleaned.get("partner_a"), cleaned.get("partner_b")
        if a and b and a.pk > b.pk:  # the pair is unordered; it is stored ordered
            cleaned["partner_a"], cleaned["partner_b"] = b, a
        return cleaned


@admin.register(Partnership)
class PartnershipAdmin(admin.ModelAdmin):
    """Saving goes through the services: creating checks the pair and window, and the
    inline flows are validated and versioned by partnership_set_flows."""

    form = PartnershipAdminForm
    inlines = [FlowInline]
    list_display = (
        "id",
        "partner_a",
        "partner_b",
        "status_display",
        "valid_from",
        "valid_until",
        "version",
    )
    list_filter = ("status",)
    search_fields = ("=id", "partner_a__name", "partner_b__name")
    list_select_related = ("partner_a", "partner_b")
    readonly_fields = ("status", "version", "activated_at", "ended_at")
    actions = [
        service_action(
            "activate", "activated", "Activate selected partnerships", partnership_activate
        ),
        service_action("end", "ended", "End selected partnerships", partnership_end),
    ]

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Partnership):
        return status_badge(obj.status, obj.get_status_display())

    def get_readonly_fields(self, request, obj=None):
        fixed = ("partner_a", "partner_b", "valid_from", "valid_until")
        return self.readonly_fields + (fixed if obj else ())

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            partnership_set_terms(
                partnership=obj, terms=form.cleaned_data["terms"], actor=request.user
            )
            return
        created = partnership_create(
            partner_x=form.cleaned_data["partner_a"],
            partner_y=form.cleaned_data["partner_b"],
            valid_from=form.cleaned_data["valid_from"],
            valid_until=form.cleaned_data["valid_until"],
            terms=form.cleaned_data["terms"],
            actor=request.user,
        )
        obj.pk, obj.partner_a, obj.partner_b = created.pk, created.partner_a, created.partner_b
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        flows = [
            FlowSpec(
                f.cleaned_data["source"].pk,
                f.cleaned_data["recipient"].pk,
                f.cleaned_data["purpose"].pk,
                frozenset(c.code for c in f.cleaned_data["data_categories"]),
            )
            for formset in formsets
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        partnership_set_flows(partnership=form.instance, flows=flows, actor=request.user)

    def construct_change_message(self, request, form, formsets, add=False):
        # The flows are saved by partnership_set_flows (which audits them), not by the inline
        # formsets, so the log message describes the partnership form only.
        return super().construct_change_message(request, form, [], add)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A refusal from the services rolls the whole save back and is shown as a message.
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as refused:
            self.message_user(
                request, f"Not saved ({refused.code}): {refused.detail}", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())


class PartnershipListFilter(admin.RelatedFieldListFilter):
    """A partnership's label names both partners: load them in the one query, not two per row."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        partnerships = Partnership.objects.select_related("partner_a", "partner_b")
        return [(p.pk, str(p)) for p in partnerships.order_by(*ordering)]


@admin.register(DataCategory)
class DataCategoryAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "taxonomy_version")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()  # codes are referenced by consents and flows


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "single_partner", "taxonomy_version")
    filter_horizontal = ("allowed_categories",)

    def get_readonly_fields(self, request, obj=None):
        return ("code", "single_partner") if obj else ()
