"""The demo seed's rewards: the rules the README names, Ada's history, a consistent ledger."""

from __future__ import annotations

import io
from decimal import Decimal

from django.core.management import call_command

from consent.models import Customer
from exchanges.rewards.ledger import ledger_verify
from exchanges.rewards.models import Reward, RewardRule


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
