"""The demo seed's rewards: the rules the README names, Ada's history, a consistent ledger."""

from __future__ import annotations

import io
from decimal import Decimal

from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.db.models import Max
from django.utils import timezone

from consent.models import Customer
from exchanges.rewards.ledger import ledger_verify
from exchanges.rewards.models import Reward, RewardRule
from exchanges.rewards.wording import reward_state


def test_the_demo_has_both_rules_and_ada_has_rewards_in_several_states(
    db, activity_types, settings
):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())

    assert sorted(RewardRule.objects.values_list("trigger", "amount", "unit")) == [
        ("activity.count", Decimal("5.0000"), "EUR"),
        ("referral.converted", Decimal("2.0000"), "EUR"),
    ]
    rewards = Reward.objects.select_related("funder", "receiver")
    assert sorted((r.status, r.funder.name, r.receiver.name, r.to_customer) for r in rewards) == [
        ("pending", "Harbor Mutual", "Pulse Fitness", True),
        ("pending", "Pulse Fitness", "Fresh Basket", True),  # the offer Ada redeemed
        ("posted", "Fresh Basket", "Pulse Fitness", False),
        ("posted", "Harbor Mutual", "Pulse Fitness", True),
    ]
    assert {r.customer_id for r in rewards} == {Customer.objects.order_by("created_at")[0].pk}
    assert ledger_verify() == []


# What the demo records as having happened lies in the past; only deadlines lie ahead.
DEADLINES = {"expires_at", "lapses_at", "lock_at", "ends_at", "valid_until", "next_attempt_at"}


def test_the_demo_dates_nothing_that_happened_in_the_future(db, activity_types, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    now = timezone.now()

    future = {
        f"{model._meta.label}.{field.name}": latest
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.DateTimeField) and field.name not in DEADLINES
        for latest in [model.objects.aggregate(latest=Max(field.name))["latest"]]
        if latest is not None and latest > now
    }

    assert future == {}


def test_ada_owns_last_months_reward_since_the_seed_not_since_a_later_date(
    db, activity_types, settings
):
    settings.DEBUG = True
    before = timezone.now()
    call_command("seed_demo", stdout=io.StringIO())
    now = timezone.now()

    posted = Reward.objects.select_related("consent").filter(status=Reward.Status.POSTED)

    assert len(posted) == 2  # last month's visits and the referral fee
    for reward in posted:
        assert before <= reward.issued_at <= reward.lock_at <= reward.posted_at <= now
        assert reward_state(reward, now) == f"Added to your rewards on {now:%-d %B %Y}."
    assert Reward.objects.filter(status=Reward.Status.PENDING, lock_at__lte=now).count() == 0
