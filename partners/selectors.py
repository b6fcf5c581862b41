"""Readers that carry rules about partners and partnerships."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from partners.models import Partner, Partnership, PartnershipFlow


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


def partners_by_status() -> list[dict[str, Any]]:
    """How many partners are in each status, every status listed (zeros too); one query."""
    counts = dict(
        Partner.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [
        {"status": value, "label": label, "count": counts.get(value, 0)}
        for value, label in Partner.Status.choices
    ]


def partner_applications_waiting(*, limit: int = 10) -> QuerySet[Partner]:
    """The oldest applications still waiting for an admin's decision, first come first."""
    return Partner.objects.filter(status=Partner.Status.PENDING).order_by("created_at", "id")[
        :limit
    ]
