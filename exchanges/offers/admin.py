"""Django admin for ecosystem admins: every offer read-only, with the review queue
(submitted offers, oldest first, each with a preview and its sponsors' partnerships),
approve / reject with a reason / retire on an offer's page and as bulk actions reported per
row. Also registers the partner console's offer pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from ecosystem.admin_helpers import ReadOnlyMixin, run_per_row, status_badge
from ecosystem.errors import ApplicationError
from exchanges.offers import (
    console,  # noqa: F401  (registers the console pages)
    services,
)
from exchanges.offers.models import Offer, OfferSponsor
from exchanges.offers.text import reward_words
from partners.models import Partnership


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Emailed to the lead sponsor's contact as it is written.",
    )


class ReviewQueueFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("review", "Awaiting review")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "review":
            return queryset.filter(status=Offer.Status.SUBMITTED).order_by("submitted_at", "id")
        return queryset


class SponsorInline(ReadOnlyMixin, admin.TabularInline):
    model = OfferSponsor
    fields = ("partner", "status", "answered_at")
    readonly_fields = fields
    extra = 0


@admin.register(Offer)
class OfferAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: offers change through the services. No page names a customer: redemptions
    appear as counts only."""

    list_display = (
        "id",
        "title",
        "lead",
        "status_display",
        "submitted_at",
        "starts_at",
        "ends_at",
        "redemption_count",
    )
    list_filter = (ReviewQueueFilter, "status", "lead")
    list_select_related = ("lead",)
    search_fields = ("=id", "title")
    search_help_text = "An offer id (off_…) or words of its title."
    date_hierarchy = "created_at"
    inlines = [SponsorInline]
    fields = (
        "id",
        "lead",
        "status_display",
        "title",
        "preview",
        "terms",
        "starts_at",
        "ends_at",
        "cap_total",
        "cap_per_customer",
        "reward_display",
        "redemption_count",
        "partnerships",
        "rejection_reason",
        "created_at",
        "submitted_at",
        "decided_at",
        "published_at",
        "retired_at",
        "review_links",
    )
    readonly_fields = fields
    actions = ["approve_selected", "reject_selected", "retire_selected"]

    def get_actions(self, request: HttpRequest):
        # The read-only mixin denies change permission; these actions need the admin only.
        actions = super().get_actions(request)
        for name in self.actions:
            func = getattr(type(self), name)
            actions[name] = (func, name, func.short_description)
        return actions

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Offer):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Body, as a customer sees it")
    def preview(self, obj: Offer) -> SafeString:
        sponsors = [obj.lead, *(s.partner for s in obj.sponsors.select_related("partner"))]
        return render_to_string("offers/_preview.html", {"offer": obj, "sponsors": sponsors})

    @admin.display(description="Reward on redemption")
    def reward_display(self, obj: Offer) -> str:
        return reward_words(obj) or "None"

    @admin.display(description="Sponsors' partnerships with the lead")
    def partnerships(self, obj: Offer) -> SafeString | str:
        co = list(obj.sponsors.values_list("partner_id", flat=True))
        if not co:
            return "No co-sponsors."
        rows = (
            Partnership.objects.involving(obj.lead_id)
            .select_related("partner_a", "partner_b")
            .filter(partner_a_id__in=[obj.lead_id, *co], partner_b_id__in=[obj.lead_id, *co])
        )
        now = timezone.now()
        return (
            format_html_join(
                mark_safe("<br>"),
                '<a href="{}">{} ⇄ {}</a> — {}',
                (
                    (
                        reverse("admin:partners_partnership_change", args=[quote(p.pk)]),
                        p.partner_a.name,
                        p.partner_b.name,
                        "in force" if p.is_current(now) else f"not in force ({p.status})",
                    )
                    for p in rows
                ),
            )
            or "None: a co-sponsor has no partnership with the lead."
        )

    @admin.display(description="Review")
    def review_links(self, obj: Offer) -> SafeString | str:
        links = []
        if obj.status == Offer.Status.SUBMITTED:
            links += [("approve", "Approve"), ("reject", "Reject")]
        if obj.status in (Offer.Status.APPROVED, Offer.Status.PUBLISHED):
            links.append(("retire", "Retire"))
        if not links:
            return "—"
        return format_html_join(
            " ",
            '<a class="button" href="{}">{}</a>',
            ((reverse(f"admin:offer-{name}", args=[obj.pk]), label) for name, label in links),
        )

    # --- bulk actions, each row reported on its own -----------------------------------

    @admin.action(description="Approve selected offers (published once their window opens)")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_per_row(
            self,
            request,
            queryset,
            "approved",
            lambda offer: services.offer_approve(offer_id=offer.pk, actor=request.user),
        )

    @admin.action(description="Retire selected offers")
    def retire_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_per_row(
            self,
            request,
            queryset,
            "retired",
            lambda offer: services.offer_retire(offer_id=offer.pk, actor=request.user),
        )

    @admin.action(description="Reject selected offers (asks for a reason)")
    def reject_selected(self, request: HttpRequest, queryset: QuerySet):
        confirmed = request.POST.get("confirm") == "yes"
        form = ReasonForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            reason = form.cleaned_data["reason"]
            run_per_row(
                self,
                request,
                queryset,
                "rejected",
                lambda offer: services.offer_reject(
                    offer_id=offer.pk, actor=request.user, reason=reason
                ),
            )
            return None
        return render(
            request,
            "offers/admin_reason.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject offers",
                "offers": list(queryset),
                "form": form,
                "action": "reject_selected",
                "selected": [o.pk for o in queryset],
                "opts": self.opts,
            },
        )

    # --- the buttons on an offer's page -----------------------------------------------

    def get_urls(self):
        return [
            path(
                "<str:object_id>/approve/",
                self.admin_site.admin_view(self.move_view),
                {"move": "approve"},
                name="offer-approve",
            ),
            path(
                "<str:object_id>/reject/",
                self.admin_site.admin_view(self.move_view),
                {"move": "reject"},
                name="offer-reject",
            ),
            path(
                "<str:object_id>/retire/",
                self.admin_site.admin_view(self.move_view),
                {"move": "retire"},
                name="offer-retire",
            ),
            *super().get_urls(),
        ]

    def move_view(self, request: HttpRequest, object_id: str, move: str) -> HttpResponse:
        offer = self.get_object(request, unquote(object_id))  # as change_view does
        if offer is None or move not in {"approve", "reject", "retire"}:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = reverse("admin:offers_offer_change", args=[quote(offer.pk)])
        form = ReasonForm(request.POST or None) if move == "reject" else None
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                if move == "approve":
                    services.offer_approve(offer_id=offer.pk, actor=request.user)
                elif move == "reject":
                    services.offer_reject(
                        offer_id=offer.pk, actor=request.user, reason=form.cleaned_data["reason"]
                    )
                else:
                    services.offer_retire(offer_id=offer.pk, actor=request.user)
            except ApplicationError as refused:
                self.message_user(request, f"{offer}: {refused.detail}", messages.ERROR)
            else:
                self.message_user(request, f"{offer}: {move} done.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        return render(
            request,
            "offers/admin_reason.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{move.capitalize()} {offer.pk}",
                "offers": [offer],
                "form": form,
                "back": back,
                "opts": self.opts,
            },
        )
