"""Django admin for ecosystem admins: partners, partnerships and their flows, and the
purposes and data categories the flows are written in.

Status changes and flows go through the services, so the same rules, audit rows and
reactions in the layers above apply as everywhere else; admin actions report each row's
outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join

from ecosystem.admin_helpers import date_column, run_per_row, status_badge
from ecosystem.errors import ApplicationError
from ecosystem.refusals import place_refusal, refusal_as_message, refusal_on_form
from partners.models import (
    DataCategory,
    Partner,
    PartnerClient,
    Partnership,
    PartnershipFlow,
    PartnershipTerms,
    Purpose,
)
from partners.scopes import SCOPES, SECTOR_DEFAULT_CEILINGS, format_scopes, parse_scopes
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
    privacy_notice_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Partner
        fields = [
            "name",
            "sector",
            "website",
            "description",
            "contact_name",
            "contact_email",
            "address",
            "phone",
            "privacy_notice_url",
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


def default_ceiling(partner: Partner) -> set[str]:
    """What approving ``partner`` offers: its own ceiling, else its sector's default."""
    return partner.scope_ceiling_set or parse_scopes(SECTOR_DEFAULT_CEILINGS[partner.sector])


class ApproveForm(forms.Form):
    scope_ceiling = ScopeCeilingField(
        label="API scopes its clients may hold",
        help_text="Ticked: the partner's own ceiling, or its sector's default "
        "(docs/partner-quickstart.md). Its staff can create no API client without one.",
    )

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scope_ceiling"].required = True
        self.fields["scope_ceiling"].error_messages["required"] = (
            "Tick at least one scope: with none, its staff could create no API client."
        )
        self.initial["scope_ceiling"] = sorted(default_ceiling(partner))

    def service_kwargs(self) -> dict[str, Any]:
        return {"scope_ceiling": self.cleaned_data["scope_ceiling"]}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the partner's record (a suspension's is also emailed to its contact).",
    )

    def __init__(self, *args: Any, partner: Partner | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def service_kwargs(self) -> dict[str, Any]:
        return {"reason": self.cleaned_data["reason"]}


class ConfirmForm(forms.Form):
    def __init__(self, *args: Any, partner: Partner | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def service_kwargs(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Transition:
    """A partner lifecycle move as the admin offers it: a button on the partner's page and
    a bulk action, both through a confirmation page that asks what the service needs."""

    name: str
    verb: str
    done: str
    form: type[forms.Form]
    service: Callable[..., Any]
    means: str


TRANSITION_PAGES = {
    t.name: t
    for t in (
        Transition(
            "approve",
            "Approve",
            "approved",
            ApproveForm,
            partner_services.partner_approve,
            "The partner becomes active and its contact is emailed a link to set the partner "
            "console password. Its staff can then create API clients with the scopes below.",
        ),
        Transition(
            "reject",
            "Reject",
            "rejected",
            ReasonForm,
            partner_services.partner_reject,
            "The application is closed: nobody can sign in for this brand.",
        ),
        Transition(
            "suspend",
            "Suspend",
            "suspended",
            ReasonForm,
            partner_services.partner_suspend,
            "At once: its API calls and token requests are refused (partner_inactive), no "
            "customer data flows to or from it, its console becomes read-only, and its "
            "customers see that it is suspended. Its consents, partnerships and clients are "
            "kept, so reinstating restores them. Its contact is emailed the reason.",
        ),
        Transition(
            "reinstate",
            "Reinstate",
            "reinstated",
            ConfirmForm,
            partner_services.partner_reinstate,
            "Its calls and data flows work again and its contact is emailed that it is back.",
        ),
    )
}


def transition_action(transition: Transition):
    """A bulk action that first shows the confirmation page for every selected partner
    (asking for a reason where one is needed), then runs the service on each row."""

    def action(modeladmin: PartnerAdmin, request: HttpRequest, queryset: QuerySet):
        confirmed = request.POST.get("confirm") == "yes"
        # Approving in bulk gives each partner its own ceiling or its sector's default (shown
        # on the page); choosing other scopes is done on the partner's own page.
        bulk_approve = transition.form is ApproveForm
        form = None if bulk_approve else transition.form(request.POST if confirmed else None)
        if confirmed and (form is None or form.is_valid()):

            def run(partner: Partner) -> Any:
                if bulk_approve:
                    kwargs = {"scope_ceiling": default_ceiling(partner)}
                else:
                    kwargs = form.service_kwargs()  # type: ignore[union-attr]
                return transition.service(partner=partner, actor=request.user, **kwargs)

            run_per_row(modeladmin, request, queryset, transition.done, run)
            return None
        rows = [{"partner": p, "ceiling": format_scopes(default_ceiling(p))} for p in queryset]
        return modeladmin.transition_page(
            request, transition, form=form, rows=rows, selected=[p.pk for p in queryset]
        )

    action.__name__ = transition.name
    description = {
        "approve": "Approve selected partners (emails a console link)",
        "reject": "Reject selected applications",
        "suspend": "Suspend selected partners (their calls are refused at once)",
        "reinstate": "Reinstate selected partners",
    }[transition.name]
    return admin.action(description=description)(action)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = PartnerAdminForm
    list_display = (
        "name",
        "slug",
        "sector",
        "status_display",
        date_column("created_at", "Applied"),
        date_column("approved_at", "Approved"),
    )
    list_filter = ("status", "sector")
    search_fields = ("name", "slug", "=contact_email")
    readonly_fields = ("id", "slug", "status", "status_reason", "created_at", "approved_at")
    inlines = [PartnerClientInline]
    actions = [
        *(transition_action(t) for t in TRANSITION_PAGES.values()),
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

    def get_urls(self):
        return [
            path(
                "<path:object_id>/lifecycle/<str:transition>/",
                self.admin_site.admin_view(self.transition_view),
                name="partners_partner_transition",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        partner = self.get_object(request, unquote(object_id))
        buttons = []
        if partner is not None:
            buttons = [
                {
                    "label": t.verb,
                    "url": reverse(
                        "admin:partners_partner_transition", args=[quote(partner.pk), t.name]
                    ),
                }
                for t in TRANSITION_PAGES.values()
                if partner_services.partner_action_allowed(partner, t.name)
            ]
        extra_context = {**(extra_context or {}), "partner_transitions": buttons}
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request: HttpRequest, object_id: str, transition: str):
        """The confirmation page behind a button on the partner's own page."""
        page = TRANSITION_PAGES.get(transition)
        if page is None:
            raise Http404("No such action.")
        partner = self.get_object(request, unquote(object_id))
        if partner is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, partner):
            raise PermissionDenied
        form = page.form(request.POST if request.method == "POST" else None, partner=partner)
        if request.method == "POST" and form.is_valid():
            with refusal_on_form(form):
                page.service(partner=partner, actor=request.user, **form.service_kwargs())
                self.message_user(request, f"{partner}: {page.done}.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:partners_partner_change", args=[quote(partner.pk)])
                )
        return self.transition_page(request, page, form=form, partner=partner)

    def transition_page(
        self,
        request: HttpRequest,
        page: Transition,
        *,
        form: forms.Form | None,
        partner: Partner | None = None,
        rows: list[dict[str, Any]] | None = None,
        selected: list[str] | None = None,
    ) -> HttpResponse:
        title = f"{page.verb} {partner}?" if partner else f"{page.verb} these partners?"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "page": page,
            "form": form,
            "partner": partner,
            "rows": rows,
            "selected": selected,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        status = 400 if form is not None and form.is_bound and form.errors else 200
        return TemplateResponse(
            request, "admin/partners/partner/transition.html", context, status=status
        )


class FlowInlineForm(forms.ModelForm):
    data_categories = forms.ModelMultipleChoiceField(
        queryset=DataCategory.objects.all(), widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = PartnershipFlow
        fields = ["source", "recipient", "purpose", "data_categories"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A tabular row's selects sit under column headings, which screen readers do not tie
        # to them: each select names itself.
        for name in ("source", "recipient", "purpose"):
            widget = self.fields[name].widget
            widget = getattr(widget, "widget", widget)  # inside the admin's related-field wrapper
            widget.attrs["aria-label"] = self.fields[name].label


class FlowFormSet(forms.BaseInlineFormSet):
    """On the page re-shown after the services refused a flow, that refusal sits on the row
    it concerns (``flow_rows`` maps the services' flow positions to rows)."""

    refusal: ApplicationError | None = None
    flow_rows: list[tuple[str, int]] = []

    def add_fields(self, form, index) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:  # a tabular row's checkbox has no <label> of its own
            form.fields["DELETE"].widget.attrs["aria-label"] = "Delete this flow"

    def clean(self) -> None:
        super().clean()
        refused = self.refusal
        if refused is None or "flow" not in refused.extra:
            return
        rows = self.flow_rows
        at = refused.extra["flow"]
        if not (0 <= at < len(rows)) or rows[at][0] != self.prefix:
            if not any(prefix == self.prefix for prefix, _ in rows):
                return  # another inline's row
            raise forms.ValidationError(refused.detail)
        place_refusal(self.forms[rows[at][1]], refused)


class FlowInline(admin.TabularInline):
    model = PartnershipFlow
    form = FlowInlineForm
    formset = FlowFormSet
    extra = 1

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.refusal = getattr(request, "_partnership_refusal", None)
        formset.flow_rows = getattr(request, "_partnership_flow_rows", [])
        return formset

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source", "recipient")

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

    # Where a refusal of the services (other than a flow's) belongs on the re-shown form.
    refusal: ApplicationError | None = None
    REFUSAL_FIELDS = {
        "partnership_self": "partner_b",
        "invalid_window": "valid_until",
        "partnership_overlap": "valid_from",
    }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        a, b = cleaned.get("partner_a"), cleaned.get("partner_b")
        if a and b and a.pk > b.pk:  # the pair is unordered; it is stored ordered
            cleaned["partner_a"], cleaned["partner_b"] = b, a
        refused = self.refusal
        if refused is not None and "flow" not in refused.extra:
            place_refusal(self, refused, fields=self.REFUSAL_FIELDS)
        return cleaned


@admin.register(Partnership)
class PartnershipAdmin(admin.ModelAdmin):
    """Saving goes through the services: creating checks the pair and window, and the
    inline flows are validated and versioned by partnership_set_flows."""

    form = PartnershipAdminForm
    inlines = [FlowInline]
    list_display = (
        "brands",
        "status_display",
        date_column("valid_from", "Valid from"),
        date_column("valid_until", "Valid until"),
        "version",
    )
    list_filter = ("status",)
    search_fields = ("=id", "partner_a__name", "partner_b__name")
    list_select_related = ("partner_a", "partner_b")
    readonly_fields = ("status", "version", "terms_history", "activated_at", "ended_at")
    actions = [
        service_action(
            "activate", "activated", "Activate selected partnerships", partnership_activate
        ),
        service_action("end", "ended", "End selected partnerships", partnership_end),
    ]

    @admin.display(description="Partnership", ordering="partner_a__name")
    def brands(self, obj: Partnership) -> str:
        return f"{obj.partner_a.name} ↔ {obj.partner_b.name}"

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Partnership):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Terms by version")
    def terms_history(self, obj: Partnership):
        """Each version's terms as kept (consents name the version they were given under)."""
        rows = PartnershipTerms.objects.filter(partnership=obj).order_by("-version")
        return format_html_join(
            "", "<p><strong>v{}</strong>: {}</p>", ((t.version, t.terms or "—") for t in rows)
        )

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

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.refusal = getattr(request, "_partnership_refusal", None)
        return form

    def save_related(self, request, form, formsets, change):
        flows, rows = [], []
        for formset in formsets:
            for index, f in enumerate(formset.forms):
                if f.cleaned_data and not f.cleaned_data.get("DELETE"):
                    flows.append(
                        FlowSpec(
                            f.cleaned_data["source"].pk,
                            f.cleaned_data["recipient"].pk,
                            f.cleaned_data["purpose"].pk,
                            frozenset(c.code for c in f.cleaned_data["data_categories"]),
                        )
                    )
                    rows.append((formset.prefix, index))
        # Kept so that a refusal naming the n-th flow can be shown on its row.
        request._partnership_flow_rows = rows
        partnership_set_flows(partnership=form.instance, flows=flows, actor=request.user)

    def construct_change_message(self, request, form, formsets, add=False):
        # The flows are saved by partnership_set_flows (which audits them), not by the inline
        # formsets, so the log message describes the partnership form only.
        return super().construct_change_message(request, form, [], add)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A refusal from the services rolls the whole save back. The same POST is then shown
        # again, everything as typed, with the refusal next to the row or field it concerns:
        # that second pass is invalid by construction, so it saves nothing.
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as refused:
            request._partnership_refusal = refused
        # Not placeable on the form: say it above it.
        with refusal_as_message(request, prefix="Not saved: "), transaction.atomic():
            return super().changeform_view(request, object_id, form_url, extra_context)
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
