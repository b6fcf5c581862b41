"""Django admin for ecosystem admins: referrals, read-only, and no page shows the customer's
data. Also registers the partner console's referral pages."""

from __future__ import annotations

from django.contrib import admin

from ecosystem.admin_helpers import ReadOnlyMixin, status_badge
from exchanges.referrals import console  # noqa: F401  (registers the console pages)
from exchanges.referrals.models import Referral
from partners.admin import PartnershipListFilter


@admin.register(Referral)
class ReferralAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: referrals change through the services, at the partners' request. The
    customer appears as the opaque ``cst_`` id only; the sealed snapshot and the sender's
    sealed note (data about the customer) are never shown."""

    list_display = (
        "id",
        "from_partner",
        "to_partner",
        "status_display",
        "created_at",
        "expires_at",
        "answered_at",
    )
    list_filter = (("partnership", PartnershipListFilter), "status", "from_partner", "to_partner")
    list_select_related = ("from_partner", "to_partner")
    search_fields = ("=id",)
    search_help_text = "A referral id (ref_…)."
    date_hierarchy = "created_at"
    fields = (
        "id",
        "from_partner",
        "to_partner",
        "partnership",
        "customer",
        "consent",
        "status",
        "data_categories",
        "reason",
        "value_amount",
        "value_currency",
        "created_at",
        "expires_at",
        "answered_at",
        "ended_at",
    )
    readonly_fields = fields

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Referral):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Data categories")
    def data_categories(self, obj: Referral) -> str:
        # The names of the consented categories, never their values.
        return ", ".join(obj.snapshot_categories) or "—"
