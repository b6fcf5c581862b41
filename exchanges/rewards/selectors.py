"""Reading rewards as one partner may: those it funds or receives, under its own ids; and the
settlement statements it is a party to."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Case, OuterRef, Prefetch, Q, QuerySet, Subquery, When

from consent.models import PartnerLink
from exchanges.rewards import ledger
from exchanges.rewards.models import Account, Reward, Statement, StatementLine


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
    # A funder the customer did not let know them (an offer's sponsor) sees no id.
    return rewards.annotate(
        pairwise_id=Case(
            When(
                Q(receiver_id=partner_id) | Q(funder_knows_customer=True),
                then=Subquery(mine.values("id")[:1]),
            ),
            default=None,
        )
    )


def reward_of(*, partner_id: str, reward_id: str) -> Reward | None:
    return rewards_for(partner_id=partner_id).filter(pk=reward_id).first()


def statements_for(
    *, partner_id: str, period: str | None = None, counterparty: str | None = None
) -> QuerySet[Statement]:
    """The statements the partner is a party to, with both partners joined: one query."""
    if counterparty:
        statements = Statement.objects.filter(
            Q(partner_a_id=partner_id, partner_b_id=counterparty)
            | Q(partner_a_id=counterparty, partner_b_id=partner_id)
        )
    else:
        statements = Statement.objects.filter(
            Q(partner_a_id=partner_id) | Q(partner_b_id=partner_id)
        )
    if period:
        statements = statements.filter(period=period)
    return statements.select_related("partner_a", "partner_b")


def statement_of(*, partner_id: str, statement_id: str) -> Statement | None:
    """One of the partner's statements with its lines and their transactions: two queries,
    whatever the number of lines."""
    lines = StatementLine.objects.select_related("transaction").order_by("booked_at", "id")
    return (
        statements_for(partner_id=partner_id)
        .prefetch_related(Prefetch("lines", queryset=lines))
        .filter(pk=statement_id)
        .first()
    )


def rewards_of_customer(*, customer_id: str) -> QuerySet[Reward]:
    """The rewards paid to one customer (not the fees partners pay each other about them),
    newest first, with the rule, its activity type, the brands and the consent behind each
    and its two brands joined: one query per page (the customer's portal)."""
    return (
        Reward.objects.filter(customer_id=customer_id, to_customer=True)
        .select_related(
            "rule__activity_type",
            "funder",
            "receiver",
            "consent__source",
            "consent__recipient",
        )
        .order_by("-issued_at", "id")
    )


def customer_balances(*, customer_id: str) -> list[dict]:
    """Per unit (a currency or a points programme), the customer's available (posted) and
    pending balances, derived from the ledger's entries: one query."""
    from_ledger = ledger.balances(ledger.Owner.customer(customer_id))
    units = sorted({unit for _kind, unit in from_ledger})
    return [
        {
            "unit": unit,
            "available": from_ledger.get((Account.Kind.AVAILABLE, unit), Decimal(0)),
            "pending": from_ledger.get((Account.Kind.PENDING, unit), Decimal(0)),
        }
        for unit in units
    ]
