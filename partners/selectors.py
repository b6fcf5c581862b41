"""Readers that carry rules about partners and partnerships."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from partners.models import Partnership, PartnershipFlow


def partnerships_active_for(*, partner_id: str) -> QuerySet[Partnership]:
    """Active partnerships that include the partner and are inside their validity window now,
    with both partners and every flow (with its categories) loaded in a fixed number of
    queries."""
    return (
        Partnership.objects.involving(partner_id)
        .current(timezone.now())
        .select_related("partner_a", "partner_b")
        .prefetch_related(
            Prefetch(
                "flows",
                queryset=PartnershipFlow.objects.prefetch_related("data_categories"),
            )
        )
    )
