"""Reading rewards as one partner may: those it funds or receives, under its own ids; and the
settlement statements it is a party to."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)

from consent.models import PartnerLink
from exchanges.rewards import ledger
from exchanges.rewards.models import Account, LedgerTransaction, Reward, Statement, StatementLine
from exchanges.rewards.money import quantize


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


def rewards_by_partnership(*, since: datetime) -> list[dict[str, Any]]:
    """For the ecosystem dashboard: per partnership (through the reward's rule; rewards an
    exchange grants itself, an offer's on redemption, have none) and unit, the rewards issued
    since ``since``, how many of them have posted, how many were voided or reversed, and how
    many are settled (their posting is on a month's statement between two partners), with
    the amounts issued and settled. One grouped query, whatever the number of rewards."""
    settled = Exists(
        StatementLine.objects.filter(reward_id=OuterRef("pk"), kind=LedgerTransaction.Kind.POST)
    )
    S = Reward.Status
    rows = (
        Reward.objects.filter(issued_at__gte=since)
        .annotate(on_statement=settled)
        .values(
            "rule__partnership_id",
            "rule__partnership__partner_a__name",
            "rule__partnership__partner_b__name",
            "unit",
        )
        .annotate(
            issued=Count("id"),
            posted=Count("id", filter=Q(status__in=[S.POSTED, S.REVERSED])),
            ended=Count("id", filter=Q(status__in=[S.VOIDED, S.REVERSED])),
            settled=Count("id", filter=Q(on_statement=True)),
            issued_amount=Sum("amount"),
            settled_amount=Sum("amount", filter=Q(on_statement=True), default=Decimal(0)),
        )
        .order_by()
    )
    result = []
    for row in map(dict, rows):
        names = (
            sorted(
                (
                    row["rule__partnership__partner_a__name"],
                    row["rule__partnership__partner_b__name"],
                )
            )
            if row["rule__partnership_id"]
            else None
        )
        result.append(
            {
                "partnership_id": row["rule__partnership_id"],
                # A partnership is an unordered pair: its names in alphabetical order.
                "label": " ↔ ".join(names) if names else "Offers (no partnership)",
                "unit": row["unit"],
                **{k: row[k] for k in ("issued", "posted", "ended", "settled")},
                "issued_amount": quantize(row["issued_amount"], row["unit"]),
                "settled_amount": quantize(row["settled_amount"], row["unit"]),
            }
        )
    # Offer rewards first, then by label: a sort of the grouped rows, not of the rewards.
    return sorted(result, key=lambda r: (r["partnership_id"] is not None, r["label"], r["unit"]))
