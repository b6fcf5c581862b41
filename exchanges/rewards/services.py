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
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from consent.models import Consent, PartnerLink
from consent.selectors import consent_allowance, consents_hold, consents_in_force
from ecosystem.errors import ApplicationError
from ecosystem.services.audit import audit_record
from ecosystem.transitions import InvalidTransition, expect, locked, sweep, transition
from exchanges.rewards import ledger
from exchanges.rewards.models import (
    ActivityEvent,
    ActivityType,
    LedgerTransaction,
    Reward,
    RewardRule,
)
from exchanges.rewards.money import as_wire, is_currency, is_points, quantize
from partners.models import Partnership, partnership_current_q
from partners.webhooks.events import event_publish

S = Reward.Status
T = LedgerTransaction.Kind
ACTIVITY_SKEW = timedelta(minutes=5)  # partners' clocks drift; "now" allows for it

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
    """Active rules of partnerships in force, at the partnership's current version."""
    return (
        RewardRule.objects.filter(active=True, partnership_version=F("partnership__version"))
        .filter(partnership_current_q(now, prefix="partnership__"))
        .filter(source__status="active", recipient__status="active", funder__status="active")
        .filter(**filters)
    )


# --- rules ----------------------------------------------------------------------------------


class RuleInvalid(ApplicationError):
    code = "reward_rule_invalid"
    title = "The reward rule is not valid for this partnership."


@transaction.atomic
def reward_rule_create(*, partnership: Partnership, actor: Any, **fields: Any) -> RewardRule:
    """Add a rule to the partnership's current terms (its current version). The source and
    recipient are its two partners and the funder one of them; the unit is an ISO 4217
    currency or, for a reward to the customer, a points programme code."""
    rule = RewardRule(partnership=partnership, partnership_version=partnership.version, **fields)
    parties = {partnership.partner_a_id, partnership.partner_b_id}
    if {rule.source_id, rule.recipient_id} != parties or rule.funder_id not in parties:
        raise RuleInvalid("Source, recipient and funder must be the partnership's partners.")
    fee = rule.trigger == RewardRule.Trigger.REFERRAL_CONVERTED
    if not (is_currency(rule.unit) or (not fee and is_points(rule.unit))):
        raise RuleInvalid(f"{rule.unit!r} is not an ISO 4217 currency or a points programme.")
    rule.save(force_insert=True)
    audit_record(actor=actor, action="reward_rule.create", obj=rule)
    return rule


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
    ledger.ledger_write([ledger.plan(reward, T.ISSUE, memo=reward.rule.name) for reward in rewards])
    _tell(rewards, "reward.issued")
    return rewards


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
    (None where it has no active link), never the other's. One event per reward."""
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
                pid: reward_payload(reward, pairwise.get((reward.customer_id, pid)))
                for pid in {reward.funder_id, reward.receiver_id}
            },
        )
