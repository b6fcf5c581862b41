"""Rewards in the customer's words (the portal's "My rewards"): what was shared to earn
what, and what became of it. Plain strings: the templates escape them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from consent.models import Consent
from exchanges.rewards.models import Reward
from exchanges.rewards.money import is_currency, quantize


def value_words(amount: Decimal, unit: str) -> str:
    """'EUR 5' (cents only when there are some), '100 harbor-points points'."""
    amount = quantize(amount, unit)
    if is_currency(unit):
        shown = f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount}"
        return f"{unit} {shown}"
    return f"{amount:.0f} {unit} points"


def _activities(count: int, name: str) -> str:
    noun = name.lower()
    if count != 1 and not noun.endswith(("s", "ed")):
        noun += "s"
    return f"{count} {noun}"


def reward_sentence(reward: Reward) -> str:
    """'8 gym visits at Pulse Fitness in November 2026 → EUR 5 off your Harbor Mutual
    premium'."""
    rule = reward.rule
    month = datetime.strptime(reward.period, "%Y-%m").strftime("%B %Y")
    if rule is None:  # granted by an exchange, which said what earned it
        return f"{reward.title} → {value_words(reward.amount, reward.unit)} from {reward.funder}"
    what = rule.description or f"{value_words(reward.amount, reward.unit)} from {reward.funder}"
    if rule.activity_type is None:
        return f"{reward.receiver} in {month} → {what}"
    count = reward.events or rule.threshold or 1
    return f"{_activities(count, rule.activity_type.name)} at {reward.receiver} in {month} → {what}"


# A reward's status, in the customer's words (next to reward_state's why).
REWARD_STATUS = {
    "pending": "On its way",
    "posted": "Yours",
    "voided": "Cancelled",
    "reversed": "Taken back",
}


def reward_status(status: str) -> str:
    return REWARD_STATUS.get(status, status)


def reward_state(reward: Reward, now: datetime) -> str:
    """Where the reward stands, and why, for the customer."""
    consent = reward.consent
    S = Reward.Status
    if reward.status == S.PENDING:
        return (
            f"Becomes yours on {reward.lock_at:%-d %B %Y}, unless the consent behind it ends "
            "first: withdrawing it cancels this reward."
        )
    if reward.status == S.VOIDED:
        ended = reward.ended_at or now
        why = {
            Consent.Status.WITHDRAWN: f"you withdrew the consent behind it on {ended:%-d %B %Y}",
            Consent.Status.EXPIRED: "the consent behind it expired before the reward was due",
            Consent.Status.TERMINATED: (
                "the consent behind it ended when the brands' partnership changed"
            ),
            Consent.Status.SUPERSEDED: "you changed the consent behind it before it was due",
        }.get(consent.status, "it was cancelled by the ecosystem's staff")
        return f"Because {why}."
    if reward.status == S.REVERSED:
        return f"Reversed on {reward.ended_at:%-d %B %Y}: it was corrected by the ecosystem."
    posted = f"Added to your rewards on {reward.posted_at:%-d %B %Y}."
    if not consent.is_honoured(now):
        return posted + " The consent behind it has ended since; this reward stays yours."
    return posted
