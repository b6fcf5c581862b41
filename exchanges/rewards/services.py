"""Reward services: ingest activity, evaluate rules, issue, post, void and reverse rewards.

Rules are evaluated in the same transaction as their trigger (an activity batch, a referral
conversion), not by a beat job at period close: the consent behind the reward is held (a
shared lock) in that transaction, so a reward is issued exactly while its consent is in
force, and a withdrawal that commits after it voids it in the withdrawal's own transaction.
A period-close job would have to re-decide, later, under a consent that may have changed.
The partner also learns at once (``reward.issued``) that the threshold was crossed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone

from consent.models import Consent, PartnerLink
from consent.selectors import consent_allowance, consents_hold, consents_in_force
from ecosystem.errors import ApplicationError
from ecosystem.services.audit import audit_record
from ecosystem.transitions import InvalidTransition, expect, locked, sweep, transition
from exchanges.rewards import ledger, settlement
from exchanges.rewards.models import (
    ActivityEvent,
    ActivityType,
    LedgerTransaction,
    Reward,
    RewardRule,
    Statement,
    StatementLine,
)
from exchanges.rewards.money import as_wire, is_currency, is_points, quantize
from partners.models import Partnership, partnership_current_q
from partners.services.partnerships import partnership_next_version
from partners.webhooks.events import event_publish

S = Reward.Status
T = LedgerTransaction.Kind
ACTIVITY_SKEW = timedelta(minutes=5)  # partners' clocks drift; "now" allows for it
# A posting stamped just before midnight may commit just after: a month is settled once no
# transaction of it can still be in flight.
SETTLEMENT_GRACE = timedelta(hours=1)

REFUSALS = {
    "unknown_customer": "No active link to a customer with this id.",
    "unknown_type": "No activity type with this code.",
    "no_rule": "No reward rule of a partnership of yours uses this activity type.",
    "consent_required": (
        "The customer has no active rewards consent from you to a partner with a rule for "
        "this type, covering its data category."
    ),
    "duplicate": "An activity with this external_id was already accepted from you.",
    "too_old": "occurred_at is older than the accepted window.",
    "occurred_in_future": "occurred_at is in the future.",
}


class RewardTransitionError(InvalidTransition):
    title = "The reward is not in a state that allows this."


@dataclass(frozen=True)
class ItemResult:
    external_id: str
    status: str  # accepted | refused
    code: str = ""

    @property
    def detail(self) -> str:
        return REFUSALS.get(self.code, "")


def period_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def _month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _rules_in_force(now: datetime, **filters: Any):
    """Active rules of partnerships in force, part of the partnership's current version."""
    return (
        RewardRule.objects.filter(
            Q(until_version__isnull=True) | Q(until_version__gt=F("partnership__version")),
            active=True,
            partnership_version__lte=F("partnership__version"),
        )
        .filter(partnership_current_q(now, prefix="partnership__"))
        .filter(source__status="active", recipient__status="active", funder__status="active")
        .filter(**filters)
    )


# --- rules ----------------------------------------------------------------------------------


class RuleInvalid(ApplicationError):
    code = "reward_rule_invalid"
    title = "The reward rule is not valid for this partnership."


def reward_rule_check(partnership: Partnership, rule: RewardRule) -> None:
    """The rule fits the partnership: its source and recipient are the partnership's two
    partners and the funder one of them; the unit is an ISO 4217 currency or, for a reward
    to the customer, a points programme code. Raises ``RuleInvalid`` naming the field."""
    parties = {partnership.partner_a_id, partnership.partner_b_id}
    if {rule.source_id, rule.recipient_id} != parties:
        raise RuleInvalid(
            "Source and recipient must be the partnership's two partners.",
            extra={"field": "source"},
        )
    if rule.funder_id not in parties:
        raise RuleInvalid(
            "The funder must be one of the partnership's partners.", extra={"field": "funder"}
        )
    fee = rule.trigger == RewardRule.Trigger.REFERRAL_CONVERTED
    if not (is_currency(rule.unit) or (not fee and is_points(rule.unit))):
        raise RuleInvalid(
            f"{rule.unit!r} is not an ISO 4217 currency"
            + ("" if fee else " or a points programme code")
            + ".",
            extra={"field": "unit"},
        )


@transaction.atomic
def reward_rule_create(*, partnership: Partnership, actor: Any, **fields: Any) -> RewardRule:
    """Add a rule to the partnership's current terms (its current version), as the demo's
    seed does; admins edit rules on the partnership (``reward_rules_set``)."""
    rule = RewardRule(partnership=partnership, partnership_version=partnership.version, **fields)
    reward_rule_check(partnership, rule)
    rule.save(force_insert=True)
    audit_record(actor=actor, action="reward_rule.create", obj=rule)
    return rule


# What a rule says: a change to any of these is a change of the partnership's terms.
RULE_TERMS = (
    "name",
    "trigger",
    "source_id",
    "recipient_id",
    "funder_id",
    "activity_type_id",
    "threshold",
    "cap_per_period",
    "basis",
    "amount",
    "unit",
    "description",
    "active",
)


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the admin's form gives it: the id of the rule it edits (None for a new
    one) and the values of ``RULE_TERMS``."""

    id: str | None
    terms: dict[str, Any]


def rules_current(partnership: Partnership) -> QuerySet[RewardRule]:
    """The rules of the partnership's current version."""
    return RewardRule.objects.filter(
        partnership=partnership,
        partnership_version__lte=partnership.version,
        until_version__isnull=True,
    )


@transaction.atomic
def reward_rules_set(*, partnership: Partnership, rules: list[RuleSpec], actor: Any) -> bool:
    """Replace the partnership's reward rules, part of its versioned terms. If anything
    changed, the partnership gets a new version: a rule removed or edited ends at it
    (``until_version``), an edited or new rule starts at it under a new id, and rules left
    as they were carry on unchanged. Rewards already issued keep the rule they were issued
    under. Returns whether anything changed."""
    partnership = Partnership.objects.select_for_update(no_key=True).get(pk=partnership.pk)
    if partnership.status == Partnership.Status.ENDED:
        raise RuleInvalid("An ended partnership's reward rules cannot change.")
    current = {rule.pk: rule for rule in rules_current(partnership)}
    kept: set[str] = set()
    new: list[RewardRule] = []
    for spec in rules:
        candidate = RewardRule(partnership=partnership, **spec.terms)
        reward_rule_check(partnership, candidate)
        old = current.get(spec.id or "")
        if old is not None and all(
            getattr(old, name) == getattr(candidate, name) for name in RULE_TERMS
        ):
            kept.add(old.pk)
        else:
            new.append(candidate)
    ended = sorted(set(current) - kept)
    if not new and not ended:
        return False
    partnership_next_version(partnership=partnership)
    RewardRule.objects.filter(pk__in=ended).update(until_version=partnership.version)
    for rule in new:
        rule.partnership_version = partnership.version
        rule.full_clean(exclude=["partnership"])
        rule.save(force_insert=True)
    audit_record(
        actor=actor,
        action="partnership.set_reward_rules",
        obj=partnership,
        data={
            "version": partnership.version,
            "started": [rule.pk for rule in new],
            "ended": ended,
        },
    )
    return True


# --- activity ingestion --------------------------------------------------------------------


@transaction.atomic
def activities_ingest(
    *, partner_id: str, client_id: str, items: list[dict[str, Any]]
) -> list[ItemResult]:
    """Accept each reported activity the customer's consent lets flow, refuse the others
    with a code, and evaluate the rules the accepted ones feed — in one transaction, in a
    number of queries that does not grow with the batch (bulk reads, bulk writes).

    An item is accepted when the caller has an active link to the customer under that id,
    the type exists, a rule of a partnership in force uses it from the caller to some
    recipient, and the customer's rewards consent from the caller to that recipient is in
    force (the one rule, ``consents_in_force``), covers the type's category, and is held
    (share-locked) until the commit. Items are unique per (partner, external_id).
    """
    now = timezone.now()
    results: list[ItemResult | None] = [None] * len(items)

    def refuse(index: int, code: str) -> None:
        results[index] = ItemResult(items[index]["external_id"], "refused", code)

    seen: set[str] = set()
    oldest = now - timedelta(days=settings.ACTIVITY_MAX_AGE_DAYS)
    for index, item in enumerate(items):
        if item["external_id"] in seen:
            refuse(index, "duplicate")
        elif item["occurred_at"] > now + ACTIVITY_SKEW:
            refuse(index, "occurred_in_future")
        elif item["occurred_at"] < oldest:
            refuse(index, "too_old")
        seen.add(item["external_id"])
    open_items = [i for i, result in enumerate(results) if result is None]

    links = {
        link.pk: link
        for link in PartnerLink.objects.filter(
            partner_id=partner_id,
            status=PartnerLink.Status.ACTIVE,
            pk__in={items[i]["customer_id"] for i in open_items},
        ).only("id", "customer_id")
    }
    types = dict(
        ActivityType.objects.filter(code__in={items[i]["type"] for i in open_items}).values_list(
            "code", "category_id"
        )
    )
    rules_by_type: dict[str, list[RewardRule]] = defaultdict(list)
    for rule in _rules_in_force(
        now,
        trigger=RewardRule.Trigger.ACTIVITY_COUNT,
        source_id=partner_id,
        activity_type_id__in=set(types),
    ):
        rules_by_type[rule.activity_type_id].append(rule)
    recipients = {rule.recipient_id for rules in rules_by_type.values() for rule in rules}
    consents = list(
        Consent.objects.select_related("source", "recipient", "partnership").filter(
            customer_id__in={link.customer_id for link in links.values()},
            source_id=partner_id,
            recipient_id__in=recipients,
            purpose_id="rewards",
            status=Consent.Status.ACTIVE,
            expires_at__gt=now,
        )
    )
    in_force = consents_in_force(consents, at=now)
    held = consents_hold(sorted(in_force), at=now)  # consent rows first: the lock order
    covering: dict[tuple[str, str], list[Consent]] = defaultdict(list)  # (customer, recipient)
    for consent in consents:
        if consent.pk in held:
            covering[consent.customer_id, consent.recipient_id].append(consent)

    def consent_for(customer_id: str, rule: RewardRule, category: str) -> Consent | None:
        for consent in covering.get((customer_id, rule.recipient_id), ()):
            if category in in_force[consent.pk]:
                return consent
        return None

    # Then the links of the customers we may accept for, so two batches about one customer
    # run one after the other: the second sees the first's events and rewards.
    candidates = [i for i in open_items if items[i]["customer_id"] in links]
    list(
        PartnerLink.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk__in={items[i]["customer_id"] for i in candidates})
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    known = set(
        ActivityEvent.objects.filter(
            partner_id=partner_id, external_id__in=[items[i]["external_id"] for i in open_items]
        ).values_list("external_id", flat=True)
    )
    batch = uuid.uuid4().hex
    accepted: list[ActivityEvent] = []
    for index in open_items:
        item = items[index]
        link = links.get(item["customer_id"])
        if link is None:
            refuse(index, "unknown_customer")
        elif item["type"] not in types:
            refuse(index, "unknown_type")
        elif not rules_by_type.get(item["type"]):
            refuse(index, "no_rule")
        elif not any(
            consent_for(link.customer_id, rule, types[item["type"]])
            for rule in rules_by_type[item["type"]]
        ):
            refuse(index, "consent_required")
        elif item["external_id"] in known:
            refuse(index, "duplicate")
        else:
            accepted.append(
                ActivityEvent(
                    partner_id=partner_id,
                    external_id=item["external_id"],
                    link_id=link.pk,
                    type_id=item["type"],
                    occurred_at=item["occurred_at"],
                    quantity=item.get("quantity", 1),
                    batch=batch,
                    received_at=now,
                )
            )
    # A concurrent batch may have taken an external_id of another customer's item: those
    # inserts are skipped, and the re-read says which rows are this request's.
    ActivityEvent.objects.bulk_create(accepted, ignore_conflicts=True)
    mine = set(ActivityEvent.objects.filter(batch=batch).values_list("external_id", flat=True))
    for index in open_items:
        if results[index] is None:
            external_id = items[index]["external_id"]
            results[index] = (
                ItemResult(external_id, "accepted")
                if external_id in mine
                else ItemResult(external_id, "refused", "duplicate")
            )
    stored = [event for event in accepted if event.external_id in mine]
    if stored:
        _evaluate_activity(stored, links, rules_by_type, consent_for, types, now=now)
        audit_record(
            actor=f"client:{client_id}",
            action="activities.ingest",
            obj=None,
            data={"partner": partner_id, "accepted": len(stored), "items": len(items)},
        )
    return [result for result in results if result is not None]


def _evaluate_activity(stored, links, rules_by_type, consent_for, types, *, now) -> None:
    """The activity.count rules the new events feed: for each (customer, rule, month) they
    touch, one reward per ``threshold`` events counted since the consent was granted, up to
    the cap, less those already issued (voided ones do not count against the cap)."""
    link_customer = {link.pk: link.customer_id for link in links.values()}
    touched = {(e.link_id, e.type_id, period_of(e.occurred_at)) for e in stored}
    since = min(_month_start(e.occurred_at) for e in stored)
    counts: dict[tuple[str, str, str], list[tuple[datetime, int]]] = defaultdict(list)
    for link_id, type_id, occurred_at, quantity, received_at in ActivityEvent.objects.filter(
        link_id__in={t[0] for t in touched},
        type_id__in={t[1] for t in touched},
        occurred_at__gte=since,
    ).values_list("link_id", "type_id", "occurred_at", "quantity", "received_at"):
        key = (link_id, type_id, period_of(occurred_at))
        if key in touched:
            counts[key].append((received_at, quantity))
    plans: list[tuple[RewardRule, Consent, str, str, int]] = []
    for link_id, type_id, period in sorted(touched):
        customer_id = link_customer[link_id]
        for rule in rules_by_type[type_id]:
            consent = consent_for(customer_id, rule, types[type_id])
            if consent is None:
                continue
            total = sum(
                q
                for received, q in counts[link_id, type_id, period]
                if consent.granted_at is None or received >= consent.granted_at
            )
            earned = min(total // (rule.threshold or 1), rule.cap_per_period)
            if earned:
                plans.append((rule, consent, customer_id, period, earned))
    if not plans:
        return
    issued: dict[tuple[str, str, str], tuple[int, int]] = {}  # → (last sequence, live count)
    for row in (
        Reward.objects.filter(
            rule_id__in={p[0].pk for p in plans},
            customer_id__in={p[2] for p in plans},
            trigger_ref__in={p[3] for p in plans},
        )
        .values("rule_id", "customer_id", "trigger_ref")
        .annotate(last=Max("sequence"), live=Count("pk", filter=~Q(status=S.VOIDED)))
        .order_by()
    ):
        issued[row["rule_id"], row["customer_id"], row["trigger_ref"]] = (row["last"], row["live"])
    rewards: list[Reward] = []
    for rule, consent, customer_id, period, earned in plans:
        last, live = issued.get((rule.pk, customer_id, period), (0, 0))
        for n in range(1, earned - live + 1):
            rewards.append(
                _new_reward(
                    rule,
                    consent=consent,
                    customer_id=customer_id,
                    receiver_id=rule.source_id,
                    to_customer=True,
                    amount=rule.amount,
                    trigger_ref=period,
                    period=period,
                    sequence=last + n,
                    events=(live + n) * (rule.threshold or 1),
                    now=now,
                )
            )
    rewards_issue(rewards)


def _new_reward(rule: RewardRule, *, consent: Consent, now: datetime, **fields: Any) -> Reward:
    return Reward(
        rule=rule,
        funder_id=rule.funder_id,
        consent=consent,
        unit=rule.unit,
        issued_at=now,
        lock_at=now + timedelta(days=settings.REWARD_HOLD_DAYS),
        **fields,
    )


def rewards_issue(rewards: list[Reward]) -> list[Reward]:
    """Write new pending rewards with their issue transactions, and tell both partners.
    The caller holds the consent behind each (a shared lock, in this transaction)."""
    if not rewards:
        return []
    for reward in rewards:
        reward.amount = quantize(reward.amount, reward.unit)
    Reward.objects.bulk_create(rewards)
    ledger.ledger_write(
        [
            ledger.plan(reward, T.ISSUE, memo=reward.rule.name if reward.rule else reward.title)
            for reward in rewards
        ]
    )
    _tell(rewards, "reward.issued")
    return rewards


# --- rewards an exchange grants itself (an offer's reward on redemption) -------------------


class RewardValueInvalid(ApplicationError):
    code = "invalid_reward_amount"
    title = "The reward's value is not valid."


def reward_value_check(*, amount: Decimal, unit: str) -> Decimal:
    """A value a sponsor may give a customer: a unit the ledger counts in (an ISO 4217
    currency, or a points programme code such as ``harbor-points``) and an amount above zero
    that the unit can hold exactly (cents for EUR, whole points). Returns the amount."""
    if not (is_currency(unit) or is_points(unit)):
        raise RewardValueInvalid(
            f"{unit!r} is not an ISO 4217 currency (EUR) or a points programme code "
            "(lower case, e.g. harbor-points).",
            code="invalid_reward_unit",
        )
    if not amount.is_finite() or amount <= 0:
        raise RewardValueInvalid("The reward's amount must be above zero.")
    if quantize(amount, unit) != amount or amount.adjusted() >= 14:
        raise RewardValueInvalid(
            f"{amount} cannot be given in {unit}: "
            + ("whole points only." if is_points(unit) else "too many decimal places.")
        )
    return amount


def reward_grant(
    *,
    funder_id: str,
    receiver_id: str,
    customer_id: str,
    consent: Consent,
    amount: Decimal,
    unit: str,
    trigger_ref: str,
    title: str,
    funder_knows_customer: bool,
) -> Reward:
    """A reward to the customer that an exchange above grants for its own trigger (an
    offer's redemption, ``trigger_ref`` its id), without a partnership's rule: funded by
    ``funder_id``, credited to the customer, pending like any other until its lock date, and
    voided if ``consent`` (which the caller holds, share-locked) ends first. Written in the
    caller's transaction; the same trigger cannot be rewarded twice (a UNIQUE constraint
    and the ledger's key). ``funder_knows_customer``: whether the funder may learn, in its
    webhooks, which of its customers it is (the receiver always may)."""
    now = timezone.now()
    reward = Reward(
        rule=None,
        title=title[:200],
        funder_id=funder_id,
        receiver_id=receiver_id,
        to_customer=True,
        customer_id=customer_id,
        consent=consent,
        amount=reward_value_check(amount=amount, unit=unit),
        unit=unit,
        trigger_ref=trigger_ref,
        period=period_of(now),
        sequence=1,
        funder_knows_customer=funder_knows_customer,
        issued_at=now,
        lock_at=now + timedelta(days=settings.REWARD_HOLD_DAYS),
    )
    rewards_issue([reward])
    return reward


# --- referral fees --------------------------------------------------------------------------


def rewards_for_conversion(
    *,
    referral_id: str,
    partnership_id: str,
    source_id: str,
    recipient_id: str,
    customer_id: str,
    consent_id: str,
    value_amount: Decimal | None,
    value_currency: str,
) -> list[Reward]:
    """B converted A's referral: the partnership's ``referral.converted`` rules give A a fee
    paid by B, in the referral conversion's transaction (the referral row is locked by then,
    so a second conversion is refused before it gets here). A percentage rule needs a value
    in its currency; without one it gives nothing. The referral consent is held meanwhile."""
    now = timezone.now()
    rules = list(
        _rules_in_force(
            now,
            trigger=RewardRule.Trigger.REFERRAL_CONVERTED,
            partnership_id=partnership_id,
            source_id=source_id,
            recipient_id=recipient_id,
        )
    )
    if not rules:
        return []
    found = consent_allowance(
        customer_id=customer_id,
        source_id=source_id,
        recipient_id=recipient_id,
        purpose="referral",
        at=now,
        consent_id=consent_id,
        hold=True,
    )
    if found is None:
        return []
    consent = found[0]
    rewards = []
    for rule in rules:
        if rule.basis == RewardRule.Basis.PERCENTAGE:
            if value_amount is None or value_currency != rule.unit:
                continue
            amount = value_amount * rule.amount / Decimal(100)
        else:
            amount = rule.amount
        if quantize(amount, rule.unit) <= 0:
            continue
        rewards.append(
            _new_reward(
                rule,
                consent=consent,
                customer_id=customer_id,
                receiver_id=source_id,
                to_customer=False,
                amount=amount,
                trigger_ref=referral_id,
                period=period_of(now),
                sequence=1,
                now=now,
            )
        )
    return rewards_issue(rewards)


# --- lifecycle: post, void, reverse ---------------------------------------------------------


def _move(
    rewards: list[Reward], *, to: str, kind: str, actor: Any, reason: str, now: datetime
) -> None:
    """Move locked rewards one step of ``Reward.TRANSITIONS``: every move is checked before
    anything is written, the ledger transactions are written together, then each reward is
    saved with its audit row (``ecosystem.transitions``)."""
    for reward in rewards:
        expect(reward, to=to, error=RewardTransitionError)
    if not rewards:
        return
    issues: dict[str, LedgerTransaction] = {}
    if kind == T.REVERSAL:
        posts = LedgerTransaction.objects.filter(reward__in=rewards, kind=T.POST)
        issues = {txn.reward_id: txn for txn in posts}
    ledger.ledger_write(
        [ledger.plan(r, kind, memo=reason, reverses=issues.get(r.pk)) for r in rewards]
    )
    for reward in rewards:
        if to == S.POSTED:
            reward.posted_at = now
        else:
            reward.ended_at, reward.reason = now, reason[:300]
        transition(
            reward,
            to=to,
            error=RewardTransitionError,
            fields=("posted_at", "ended_at", "reason"),
            actor=actor,
            action=f"reward.{to}",
        )


def rewards_post_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Pending rewards past their lock date are posted (beat), a batch per transaction,
    skipping rows another worker holds: safe to run twice."""
    at = now or timezone.now()

    def post(batch: list[Reward]) -> None:
        _move(batch, to=S.POSTED, kind=T.POST, actor=None, reason="", now=at)
        _tell(batch, "reward.posted")

    due = Reward.objects.select_related("rule").filter(status=S.PENDING, lock_at__lte=at)
    return sweep(due, post, order=("lock_at",), batch_size=batch_size)


def _locked(reward: Reward) -> Reward:
    return locked(Reward.objects.select_related("rule"), reward.pk)


@transaction.atomic
def reward_void(*, reward: Reward, actor: Any, reason: str) -> Reward:
    """Void a pending reward before its lock date (an admin's correction)."""
    reward = _locked(reward)
    _move([reward], to=S.VOIDED, kind=T.VOID, actor=actor, reason=reason, now=timezone.now())
    _tell([reward], "reward.voided")
    return reward


@transaction.atomic
def reward_reverse(*, reward: Reward, actor: Any, reason: str) -> Reward:
    """Correct a posted reward: a reversing transaction, never an edit."""
    reward = _locked(reward)
    _move([reward], to=S.REVERSED, kind=T.REVERSAL, actor=actor, reason=reason, now=timezone.now())
    _tell([reward], "reward.voided")
    return reward


def rewards_void_with_consent(*, consent: Consent, status: str) -> int:
    """The consent behind pending rewards ended: they are voided and both partners told, in
    the consent service's transaction. Posted rewards stay."""
    pending = list(
        Reward.objects.select_for_update(no_key=True, of=("self",))
        .select_related("rule")
        .filter(consent_id=consent.pk, status=S.PENDING)
        .order_by("pk")
    )
    reason = f"The customer's consent was {status}."
    _move(pending, to=S.VOIDED, kind=T.VOID, actor=None, reason=reason, now=timezone.now())
    _tell(pending, "reward.voided")
    return len(pending)


# --- webhooks -------------------------------------------------------------------------------


def reward_payload(reward: Reward, customer_id: str | None) -> dict[str, Any]:
    return {
        "reward_id": reward.pk,
        "rule_id": reward.rule_id,
        "status": reward.status,
        "customer_id": customer_id,
        "funder": reward.funder_id,
        "receiver": reward.receiver_id,
        "beneficiary": "customer" if reward.to_customer else "partner",
        "value": as_wire(reward.amount, reward.unit),
        "period": reward.period,
        "lock_at": reward.lock_at,
    }


def _tell(rewards: list[Reward], event_type: str) -> None:
    """The funder and the receiver each hear under their own pairwise id for the customer
    (None where it has no active link, or where the funder may not know the customer:
    ``Reward.funder_knows_customer``), never the other's. One event per reward."""
    if not rewards:
        return
    parties = {p for r in rewards for p in (r.funder_id, r.receiver_id)}
    pairwise = {
        (customer_id, partner_id): link_id
        for customer_id, partner_id, link_id in PartnerLink.objects.filter(
            customer_id__in={r.customer_id for r in rewards},
            partner_id__in=parties,
            status=PartnerLink.Status.ACTIVE,
        ).values_list("customer_id", "partner_id", "id")
    }
    for reward in rewards:
        event_publish(
            type=event_type,
            payloads={
                pid: reward_payload(
                    reward,
                    pairwise.get((reward.customer_id, pid))
                    if pid == reward.receiver_id or reward.funder_knows_customer
                    else None,
                )
                for pid in {reward.funder_id, reward.receiver_id}
            },
        )


# --- settlement -----------------------------------------------------------------------------


class PeriodOpen(ApplicationError):
    code = "period_open"
    title = "A month is settled only after it has ended."


def previous_period(now: datetime | None = None) -> str:
    """The month before the one ``now`` (less the settlement grace) is in."""
    return period_of(_month_start((now or timezone.now()) - SETTLEMENT_GRACE) - timedelta(days=1))


@transaction.atomic
def statements_close(*, period: str, now: datetime | None = None) -> list[Statement]:
    """Write the statements of an ended month: one per partner pair and unit that had a
    posted transaction between them, with a line per transaction. Safe to run twice (or
    twice at once): a pair that has its statement keeps it — the UNIQUE constraint decides
    whose insert wins, and only the winner writes lines. Returns the statements written."""
    now = now or timezone.now()
    end = settlement.period_bounds(period)[1]
    if end + SETTLEMENT_GRACE > now:
        raise PeriodOpen(f"{period} is settled from {end + SETTLEMENT_GRACE:%Y-%m-%d %H:%M} UTC.")
    derived = settlement.settlement_derive(period)
    have = set(
        Statement.objects.filter(period=period).values_list("partner_a", "partner_b", "unit")
    )
    new = {
        key: Statement(
            period=period,
            partner_a_id=found.partner_a,
            partner_b_id=found.partner_b,
            unit=found.unit,
            a_to_b=found.a_to_b,
            b_to_a=found.b_to_a,
            net_amount=found.net[0],
            debtor_id=found.net[1],
            creditor_id=found.net[2],
            line_count=len(found.lines),
            created_at=now,
        )
        for key, found in derived.items()
        if key not in have
    }
    if not new:
        return []
    Statement.objects.bulk_create(new.values(), ignore_conflicts=True)
    mine = set(
        Statement.objects.filter(pk__in=[s.pk for s in new.values()]).values_list("pk", flat=True)
    )
    written = [s for s in new.values() if s.pk in mine]
    StatementLine.objects.bulk_create(
        StatementLine(
            statement=statement,
            transaction_id=line.transaction_id,
            reward_id=line.reward_id,
            kind=line.kind,
            payer_id=line.payer,
            payee_id=line.payee,
            amount=line.amount,
            booked_at=line.booked_at,
        )
        for key, statement in new.items()
        if statement.pk in mine
        for line in derived[key].lines
    )
    audit_record(
        actor=None,
        action="statements.close",
        obj=None,
        data={"period": period, "statements": [s.pk for s in written]},
    )
    return written
