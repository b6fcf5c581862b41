"""Reading referrals as one partner may: its own sent or received, under its own ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from consent.models import PartnerLink
from exchanges.referrals.models import Referral


def _with_pairwise(queryset: QuerySet[Referral], partner_id: str) -> QuerySet[Referral]:
    """Annotate ``pairwise_id``: the caller's own id for the customer (never the other's)."""
    mine = PartnerLink.objects.filter(partner_id=partner_id, customer_id=OuterRef("customer_id"))
    return queryset.annotate(pairwise_id=Subquery(mine.values("id")[:1]))


def referrals_for(*, partner_id: str, direction: str | None = None, status: str | None = None):
    """Inbound (sent to the partner), outbound (sent by it), or both; one query per page."""
    if direction == "inbound":
        queryset = Referral.objects.filter(to_partner_id=partner_id)
    elif direction == "outbound":
        queryset = Referral.objects.filter(from_partner_id=partner_id)
    else:
        queryset = Referral.objects.filter(
            Q(to_partner_id=partner_id) | Q(from_partner_id=partner_id)
        )
    if status:
        queryset = queryset.filter(status=status)
    return _with_pairwise(queryset, partner_id)


def referral_of(*, partner_id: str, referral_id: str) -> Referral | None:
    """A referral the partner sent or received, with its consent; None for anyone else's."""
    return (
        referrals_for(partner_id=partner_id)
        .select_related("consent")
        .filter(pk=referral_id)
        .first()
    )


FUNNEL_STAGES = ("sent", "accepted", "converted", "declined", "expired", "withdrawn")


def referral_funnel(*, since: datetime, partner_id: str | None = None) -> list[dict[str, Any]]:
    """Per partnership, the referrals created since ``since``: how many were sent, reached
    ``accepted`` (still accepted, converted, or withdrawn after accepting: the answer time
    tells), converted, and ended declined, expired or withdrawn. One grouped query; with
    ``partner_id``, only referrals that partner sent or received."""
    queryset = Referral.objects.filter(created_at__gte=since)
    if partner_id is not None:
        queryset = queryset.filter(Q(from_partner_id=partner_id) | Q(to_partner_id=partner_id))
    S = Referral.Status
    accepted = Q(status__in=[S.ACCEPTED, S.CONVERTED]) | Q(
        status=S.WITHDRAWN, answered_at__isnull=False
    )
    rows = (
        queryset.values(
            "partnership_id",
            "from_partner_id",
            "from_partner__name",
            "to_partner_id",
            "to_partner__name",
        )
        .annotate(
            sent=Count("id"),
            accepted=Count("id", filter=accepted),
            converted=Count("id", filter=Q(status=S.CONVERTED)),
            declined=Count("id", filter=Q(status=S.DECLINED)),
            expired=Count("id", filter=Q(status=S.EXPIRED)),
            withdrawn=Count("id", filter=Q(status=S.WITHDRAWN)),
        )
        .order_by("from_partner__name", "to_partner__name", "partnership_id")
    )
    return [
        {
            "partnership_id": row["partnership_id"],
            "from_partner_id": row["from_partner_id"],
            "to_partner_id": row["to_partner_id"],
            "label": f"{row['from_partner__name']} → {row['to_partner__name']}",
            **{stage: row[stage] for stage in FUNNEL_STAGES},
        }
        for row in map(dict, rows)
    ]
