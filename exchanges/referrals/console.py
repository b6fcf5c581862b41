"""The partner console's referral pages (the console site lives in partners.console)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest

from ecosystem.admin_helpers import ReadOnlyMixin
from exchanges.referrals.models import Referral
from exchanges.referrals.selectors import referrals_for
from partners.console import PartnerScopedAdminMixin, console_site, staff_partner


class DirectionFilter(admin.SimpleListFilter):
    title = "direction"
    parameter_name = "direction"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # Not "Sent": that is also a status.
        return [("inbound", "Inbound (received)"), ("outbound", "Outbound (sent)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # The queryset is already the partner's own; ``direction`` is annotated on it.
        return queryset.filter(direction=self.value()) if self.value() else queryset


@admin.register(Referral, site=console_site)
class ReferralConsoleAdmin(ReadOnlyMixin, PartnerScopedAdminMixin, admin.ModelAdmin):
    """The referrals this partner sent or received, read-only (answers go through the API).
    The customer appears under this partner's own pairwise id only: never the internal id,
    the other partner's id, or the data and note the referral carries (the API shows those,
    and records that it did)."""

    list_display = (
        "id",
        "direction_display",
        "other_partner",
        "customer_pairwise_id",
        "status",
        "created_at",
        "expires_at",
    )
    list_filter = (DirectionFilter, "status")
    search_fields = ("=id",)
    search_help_text = "A referral id (ref_…)."
    fields = (
        "id",
        "direction_display",
        "other_partner",
        "customer_pairwise_id",
        "status",
        "data_categories",
        "reason",
        "value",
        "created_at",
        "expires_at",
        "answered_at",
        "ended_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Sender or recipient, not one partner column: the selector both filters to this
        # partner and annotates its own pairwise id.
        partner = staff_partner(request)
        if partner is None:
            return Referral.objects.none()
        queryset = (
            referrals_for(partner_id=partner.pk)
            .annotate(
                direction=Case(
                    When(to_partner_id=partner.pk, then=Value("inbound")),
                    default=Value("outbound"),
                )
            )
            .select_related("from_partner", "to_partner")
        )
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    @admin.display(description="Direction", ordering="direction")
    def direction_display(self, obj: Referral) -> str:
        return "Inbound" if obj.direction == "inbound" else "Outbound"  # type: ignore[attr-defined]

    @admin.display(description="Other partner")
    def other_partner(self, obj: Referral) -> str:
        inbound = obj.direction == "inbound"  # type: ignore[attr-defined]
        return str(obj.from_partner if inbound else obj.to_partner)

    # Not named ``customer``: a model field of that name would win and show the internal id.
    @admin.display(description="Customer (your id)", ordering="pairwise_id")
    def customer_pairwise_id(self, obj: Referral) -> str:
        return obj.pairwise_id or "—"  # type: ignore[attr-defined]

    @admin.display(description="Data categories")
    def data_categories(self, obj: Referral) -> str:
        # The names of the consented categories; the data itself is read through the API.
        return ", ".join(obj.snapshot_categories) or "—"

    @admin.display(description="Value")
    def value(self, obj: Referral) -> str:
        if obj.value_amount is None:
            return "—"
        return f"{obj.value_amount:.2f} {obj.value_currency}"
