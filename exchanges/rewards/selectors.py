"""Reading rewards as one partner may: those it funds or receives, under its own ids."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from consent.models import PartnerLink
from exchanges.rewards.models import Reward


def rewards_for(
    *,
    partner_id: str,
    status: str | None = None,
    rule_id: str | None = None,
    period: str | None = None,
) -> QuerySet[Reward]:
    """The partner's rewards (as funder or receiver), with ``pairwise_id``: its own id for
    the customer, never another partner's. One query per page."""
    rewards = Reward.objects.filter(Q(funder_id=partner_id) | Q(receiver_id=partner_id))
    if status:
        rewards = rewards.filter(status=status)
    if rule_id:
        rewards = rewards.filter(rule_id=rule_id)
    if period:
        rewards = rewards.filter(period=period)
    mine = PartnerLink.objects.filter(partner_id=partner_id, customer_id=OuterRef("customer_id"))
    return rewards.annotate(pairwise_id=Subquery(mine.values("id")[:1]))


def reward_of(*, partner_id: str, reward_id: str) -> Reward | None:
    return rewards_for(partner_id=partner_id).filter(pk=reward_id).first()
