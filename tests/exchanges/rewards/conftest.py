"""A small rewards world: a gym reports visits, an insurer rewards them (8 visits in a UTC
month → EUR 5 off, funded by the insurer); a grocer pays the gym EUR 2 per converted
referral."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from exchanges.rewards.models import RewardRule
from partners.models import Partner, Partnership
from tests.builders import (
    make_api,
    make_consent,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
)


def seed_activity_types() -> None:
    importlib.import_module("exchanges.rewards.migrations.0002_seed_activity_types").seed(
        apps, None
    )


@pytest.fixture
def activity_types(taxonomy) -> None:
    """The seeded activity types (a transactional test's flush empties them)."""
    seed_activity_types()


def make_rule(partnership: Partnership, **fields: Any) -> RewardRule:
    defaults: dict[str, Any] = {
        "name": "8 visits → EUR 5 off",
        "trigger": RewardRule.Trigger.ACTIVITY_COUNT,
        "activity_type_id": "gym.visit",
        "threshold": 8,
        "cap_per_period": 1,
        "amount": Decimal("5.00"),
        "unit": "EUR",
        "partnership_version": partnership.version,
    }
    defaults.update(fields)
    return RewardRule.objects.create(partnership=partnership, **defaults)


@dataclass
class World:
    gym: Partner
    insurer: Partner
    partnership: Partnership
    rule: RewardRule
    ada: Any
    ada_gym: Any  # Ada's link to the gym (its pairwise id is what the gym sends)
    ada_insurer: Any
    consent: Any
    gym_api: Any
    insurer_api: Any

    def add_customer(self, *, consent: bool = True):
        customer = make_customer()
        link = make_link(customer, self.gym)
        make_link(customer, self.insurer)
        if consent:
            make_consent(customer, self.gym, self.insurer, partnership=self.partnership)
        return customer, link


@pytest.fixture
def world(activity_types) -> World:
    gym = make_partner(name="Pulse Fitness", sector=Partner.Sector.FITNESS)
    insurer = make_partner(name="Harbor Mutual", sector=Partner.Sector.INSURANCE)
    partnership = make_partnership(gym, insurer, categories=("activity.visits",))
    rule = make_rule(partnership, source=gym, recipient=insurer, funder=insurer)
    ada = make_customer(name="Ada")
    ada_gym = make_link(ada, gym)
    ada_insurer = make_link(ada, insurer)
    consent = make_consent(ada, gym, insurer, partnership=partnership)
    return World(
        gym=gym,
        insurer=insurer,
        partnership=partnership,
        rule=rule,
        ada=ada,
        ada_gym=ada_gym,
        ada_insurer=ada_insurer,
        consent=consent,
        gym_api=make_api(gym, scopes="events:write rewards:read"),
        insurer_api=make_api(insurer, scopes="rewards:read"),
    )


def visits(link, n: int, *, prefix: str = "v", at=None, start: int = 0) -> list[dict]:
    at = at or timezone.now()
    return [
        {
            "external_id": f"{prefix}{start + i}",
            "customer_id": link.pk,
            "type": "gym.visit",
            "occurred_at": at.isoformat(),
        }
        for i in range(n)
    ]
