"""Reading referrals as one partner may: its own sent or received, under its own ids."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

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
