"""The double-entry ledger: the only writer of accounts, transactions and entries.

Every transaction is checked here to sum to zero per unit before anything is written; on
PostgreSQL a deferred constraint trigger checks it again at commit, so a hand-made insert
cannot leave an unbalanced transaction either (migration 0001). Entries are only ever
inserted. Writes are in bulk — one query for the accounts, one to create the missing ones,
one per table — so a batch of rewards costs the same number of queries as one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from ecosystem.errors import ApplicationError
from exchanges.rewards.models import Account, Entry, LedgerTransaction, Reward

ECOSYSTEM = "ecosystem"


class UnbalancedTransaction(ApplicationError):
    code = "ledger_unbalanced"
    title = "A ledger transaction must sum to zero in every unit."


@dataclass(frozen=True)
class Owner:
    type: str  # Account.Owner
    ref: str

    @classmethod
    def partner(cls, partner_id: str) -> Owner:
        return cls(Account.Owner.PARTNER, partner_id)

    @classmethod
    def customer(cls, customer_id: str) -> Owner:
        return cls(Account.Owner.CUSTOMER, customer_id)


@dataclass(frozen=True)
class Leg:
    owner: Owner
    kind: str  # Account.Kind
    unit: str
    amount: Decimal


@dataclass
class Planned:
    """A transaction to write: its row (unsaved) and its legs."""

    row: LedgerTransaction
    legs: Sequence[Leg] = field(default_factory=list)


def check_balanced(legs: Iterable[Leg]) -> None:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    count = 0
    for leg in legs:
        if leg.amount == 0:
            raise UnbalancedTransaction("A ledger entry may not be zero.")
        sums[leg.unit] += leg.amount
        count += 1
    if count < 2 or any(total != 0 for total in sums.values()):
        raise UnbalancedTransaction(
            "The entries do not sum to zero per unit: "
            + ", ".join(f"{unit} {total}" for unit, total in sorted(sums.items()))
        )


def ledger_write(planned: Sequence[Planned]) -> list[LedgerTransaction]:
    """Write these transactions with their entries, in the caller's transaction. A key seen
    before raises IntegrityError (the UNIQUE constraint is the last guard against a trigger
    counted twice; callers serialize on the trigger first, so it does not happen)."""
    for plan in planned:
        check_balanced(plan.legs)
    if not planned:
        return []
    with transaction.atomic(savepoint=False):
        keys = {(leg.owner, leg.kind, leg.unit) for p in planned for leg in p.legs}
        accounts = accounts_for(keys)
        rows = LedgerTransaction.objects.bulk_create([plan.row for plan in planned])
        Entry.objects.bulk_create(
            Entry(
                transaction=row,
                account_id=accounts[leg.owner, leg.kind, leg.unit],
                amount=leg.amount,
                unit=leg.unit,
            )
            for row, plan in zip(rows, planned, strict=True)
            for leg in plan.legs
        )
    return rows


AccountKey = tuple[Owner, str, str]


def accounts_for(keys: set[AccountKey]) -> dict[AccountKey, int]:
    """The ids of these accounts, creating the missing ones (two queries, three when some
    are new; a concurrent creation is absorbed by the unique constraint)."""

    def existing() -> dict[AccountKey, int]:
        match = Q(pk__in=[])
        for owner, kind, unit in keys:
            match |= Q(owner_type=owner.type, owner_ref=owner.ref, kind=kind, unit=unit)
        return {
            (Owner(t, r), k, u): pk
            for pk, t, r, k, u in Account.objects.filter(match).values_list(
                "pk", "owner_type", "owner_ref", "kind", "unit"
            )
        }

    found = existing()
    missing = keys - found.keys()
    if not missing:
        return found
    Account.objects.bulk_create(
        [
            Account(
                owner_type=owner.type,
                owner_ref=owner.ref,
                partner_id=owner.ref if owner.type == Account.Owner.PARTNER else None,
                customer_id=owner.ref if owner.type == Account.Owner.CUSTOMER else None,
                kind=kind,
                unit=unit,
            )
            for owner, kind, unit in missing
        ],
        ignore_conflicts=True,
    )
    return existing()


# --- the legs of each step of a reward's life ----------------------------------------------

P, A = Account.Kind.PENDING, Account.Kind.AVAILABLE


def _parties(reward: Reward) -> tuple[Owner, Owner]:
    beneficiary = (
        Owner.customer(reward.customer_id)
        if reward.to_customer
        else Owner.partner(reward.receiver_id)
    )
    return Owner.partner(reward.funder_id), beneficiary


def legs_issue(reward: Reward) -> list[Leg]:
    funder, beneficiary = _parties(reward)
    x, unit = reward.amount, reward.unit
    return [Leg(funder, P, unit, -x), Leg(beneficiary, P, unit, x)]


def legs_post(reward: Reward) -> list[Leg]:
    funder, beneficiary = _parties(reward)
    x, unit = reward.amount, reward.unit
    return [
        Leg(funder, P, unit, x),
        Leg(funder, A, unit, -x),
        Leg(beneficiary, P, unit, -x),
        Leg(beneficiary, A, unit, x),
    ]


def legs_void(reward: Reward) -> list[Leg]:
    return [Leg(leg.owner, leg.kind, leg.unit, -leg.amount) for leg in legs_issue(reward)]


def legs_reversal(reward: Reward) -> list[Leg]:
    funder, beneficiary = _parties(reward)
    x, unit = reward.amount, reward.unit
    return [Leg(funder, A, unit, x), Leg(beneficiary, A, unit, -x)]


def plan(reward: Reward, kind: str, *, memo: str = "", reverses=None) -> Planned:
    """The transaction that moves ``reward`` one step (``kind``), keyed so it happens once."""
    steps: dict[str, Callable[[Reward], list[Leg]]] = {
        LedgerTransaction.Kind.ISSUE: legs_issue,
        LedgerTransaction.Kind.POST: legs_post,
        LedgerTransaction.Kind.VOID: legs_void,
        LedgerTransaction.Kind.REVERSAL: legs_reversal,
    }
    legs = steps[kind](reward)
    row = LedgerTransaction(
        kind=kind,
        # A reward without a rule is keyed by its trigger alone (an offer's redemption id).
        key=f"{kind}:{reward.rule_id or 'grant'}:{reward.customer_id}:{reward.trigger_ref}:"
        f"{reward.sequence}",
        reward=reward,
        rule_id=reward.rule_id,
        trigger_ref=reward.trigger_ref,
        consent_id=reward.consent_id,
        reverses=reverses,
        memo=memo[:300],
    )
    return Planned(row=row, legs=legs)


# --- reading: balances are derived, never stored -------------------------------------------


def balances(owner: Owner) -> dict[tuple[str, str], Decimal]:
    """(kind, unit) → balance of one owner's accounts, summed from the entries."""
    rows = (
        Entry.objects.filter(account__owner_type=owner.type, account__owner_ref=owner.ref)
        .values_list("account__kind", "unit")
        .annotate(total=Sum("amount"))
    )
    return {(kind, unit): total for kind, unit, total in rows}


EXPECTED_STEPS = {
    Reward.Status.PENDING: ["issue"],
    Reward.Status.POSTED: ["issue", "post"],
    Reward.Status.VOIDED: ["issue", "void"],
    Reward.Status.REVERSED: ["issue", "post", "reversal"],
}


def ledger_verify() -> list[str]:
    """Re-derive the ledger and name every inconsistency: a transaction that does not sum
    to zero per unit or has fewer than two entries, an entry in another unit than its
    account, a unit whose accounts do not sum to zero, a reward whose status does not match
    its transactions or whose entries are not its amount. Empty when all is well."""
    problems: list[str] = []
    per_txn: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[str, int] = defaultdict(int)
    per_unit: dict[str, Decimal] = defaultdict(Decimal)
    magnitude: dict[str, set[Decimal]] = defaultdict(set)
    for txn_id, unit, account_unit, amount in Entry.objects.values_list(
        "transaction_id", "unit", "account__unit", "amount"
    ).order_by("transaction_id", "id"):
        if unit != account_unit:
            problems.append(f"transaction {txn_id}: an entry in {unit} on a {account_unit} account")
        per_txn[txn_id][unit] += amount
        counts[txn_id] += 1
        per_unit[unit] += amount
        magnitude[txn_id].add(abs(amount))
    steps: dict[str, list[str]] = defaultdict(list)
    txns_of: dict[str, list[str]] = defaultdict(list)
    for txn_id, reward_id, kind in LedgerTransaction.objects.values_list(
        "id", "reward_id", "kind"
    ).order_by("created_at", "id"):
        steps[reward_id].append(kind)
        txns_of[reward_id].append(txn_id)
        if counts[txn_id] < 2:
            problems.append(f"transaction {txn_id}: fewer than two entries")
        for unit, total in sorted(per_txn[txn_id].items()):
            if total != 0:
                problems.append(f"transaction {txn_id}: sums to {total} {unit}, not zero")
    for unit, total in sorted(per_unit.items()):
        if total != 0:
            problems.append(f"unit {unit}: the balances of all accounts sum to {total}, not zero")
    for reward_id, status, amount in Reward.objects.values_list("id", "status", "amount").order_by(
        "issued_at", "id"
    ):
        if steps.get(reward_id, []) != EXPECTED_STEPS[status]:
            problems.append(
                f"reward {reward_id}: {status}, but its transactions are "
                f"{steps.get(reward_id, []) or 'none'}"
            )
        for txn_id in txns_of.get(reward_id, []):
            if magnitude[txn_id] != {amount}:
                problems.append(f"reward {reward_id}: transaction {txn_id} is not of {amount}")
    return problems
