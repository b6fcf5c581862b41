"""Monthly settlement between partners, derived from the ledger (docs/rewards.md).

A statement is re-derivable at any time from the entries alone: the posted transactions of
the month (``post`` and ``reversal``) whose entries move value between two partners' available
accounts. ``statements_close`` writes them once; ``statements_verify`` (part of
``manage.py ledger_verify``) derives them again and compares.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from exchanges.rewards.models import Account, Entry, LedgerTransaction, Statement

SETTLED_KINDS = (LedgerTransaction.Kind.POST, LedgerTransaction.Kind.REVERSAL)


class LedgerShapeError(Exception):
    """A settled transaction whose entries are not one partner owing another."""


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a ``YYYY-MM`` UTC month."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass(frozen=True)
class Line:
    transaction_id: str
    reward_id: str
    kind: str
    payer: str
    payee: str
    amount: Decimal
    booked_at: datetime


@dataclass
class Derived:
    """A statement as the ledger says it should be."""

    period: str
    partner_a: str
    partner_b: str
    unit: str
    lines: list[Line] = field(default_factory=list)

    @property
    def a_to_b(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.payer == self.partner_a), Decimal(0))

    @property
    def b_to_a(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.payer == self.partner_b), Decimal(0))

    @property
    def net(self) -> tuple[Decimal, str | None, str | None]:
        """(net amount, debtor, creditor); no parties when it nets to zero."""
        diff = self.a_to_b - self.b_to_a
        if diff > 0:
            return diff, self.partner_a, self.partner_b
        if diff < 0:
            return -diff, self.partner_b, self.partner_a
        return Decimal(0), None, None


def settlement_derive(period: str) -> dict[tuple[str, str, str], Derived]:
    """(partner_a, partner_b, unit) → the statement the ledger gives for ``period``. One
    query: the entries on partners' available accounts of the month's posted transactions."""
    start, end = period_bounds(period)
    rows = Entry.objects.filter(
        transaction__kind__in=SETTLED_KINDS,
        transaction__created_at__gte=start,
        transaction__created_at__lt=end,
        account__owner_type=Account.Owner.PARTNER,
        account__kind=Account.Kind.AVAILABLE,
    ).values_list(
        "transaction_id",
        "transaction__reward_id",
        "transaction__kind",
        "transaction__created_at",
        "account__owner_ref",
        "unit",
        "amount",
    )
    per_txn: dict[str, list[tuple]] = defaultdict(list)
    for row in rows.order_by("transaction__created_at", "transaction_id", "id"):
        per_txn[row[0]].append(row)
    derived: dict[tuple[str, str, str], Derived] = {}
    for txn_id, legs in per_txn.items():
        # A reward to a customer has one partner leg (the funder's): nothing between partners.
        if len(legs) == 1:
            continue
        (_, reward_id, kind, booked_at, *_rest) = legs[0]
        if len(legs) != 2 or legs[0][5] != legs[1][5] or legs[0][6] + legs[1][6] != 0:
            raise LedgerShapeError(f"transaction {txn_id}: not one partner owing another")
        payer, payee = sorted(legs, key=lambda leg: leg[6])  # the negative leg pays
        unit, amount = payee[5], payee[6]
        a, b = sorted((payer[4], payee[4]))
        statement = derived.setdefault((a, b, unit), Derived(period, a, b, unit))
        statement.lines.append(Line(txn_id, reward_id, kind, payer[4], payee[4], amount, booked_at))
    return derived


def statements_verify() -> list[str]:
    """Every statement written equals what the ledger derives for its period now: the same
    transactions, amounts and net, and no settled transaction of a closed period left off."""
    problems: list[str] = []
    stored: dict[str, dict[tuple[str, str, str], Statement]] = defaultdict(dict)
    for statement in Statement.objects.prefetch_related("lines").order_by("period", "id"):
        key = (statement.partner_a_id, statement.partner_b_id, statement.unit)
        stored[statement.period][key] = statement
    for period, statements in stored.items():
        try:
            derived = settlement_derive(period)
        except LedgerShapeError as shape:
            problems.append(f"period {period}: {shape}")
            continue
        for key, statement in statements.items():
            expected = derived.get(key)
            if expected is None:
                problems.append(f"statement {statement.pk}: the ledger has no such transactions")
                continue
            lines = {
                (ln.transaction_id, ln.payer_id, ln.payee_id, ln.amount)
                for ln in statement.lines.all()
            }
            want = {(ln.transaction_id, ln.payer, ln.payee, ln.amount) for ln in expected.lines}
            net, debtor, creditor = expected.net
            if lines != want or statement.line_count != len(want):
                problems.append(f"statement {statement.pk}: its lines differ from the ledger")
            elif (
                statement.a_to_b,
                statement.b_to_a,
                statement.net_amount,
                statement.debtor_id,
                statement.creditor_id,
            ) != (expected.a_to_b, expected.b_to_a, net, debtor, creditor):
                problems.append(f"statement {statement.pk}: its totals differ from the ledger")
        for key in derived.keys() - statements.keys():
            problems.append(
                f"period {period}: closed, but {key[0]} and {key[1]} have no {key[2]} statement"
            )
    return problems
