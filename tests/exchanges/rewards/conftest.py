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

from consent.services.consents import consent_grant
from exchanges.rewards.models import RewardRule
from partners.models import Partner, Partnership, Purpose
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


REFERRALS = "/api/v1/referrals"


@pytest.fixture
def fee(activity_types):
    class Fee:
        pass

    f = Fee()
    f.gym, f.grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    f.partnership = make_partnership(
        f.gym, f.grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    f.rule = make_rule(
        f.partnership,
        name="EUR 2 per converted referral",
        trigger=RewardRule.Trigger.REFERRAL_CONVERTED,
        activity_type=None,
        threshold=None,
        amount=Decimal("2.00"),
        source=f.gym,
        recipient=f.grocer,
        funder=f.grocer,
    )
    f.ada = make_customer(name="Ada Lovelace")
    f.ada_gym = make_link(f.ada, f.gym)
    f.consent = consent_grant(
        customer=f.ada,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=f.gym.pk,
        recipient_id=f.grocer.pk,
        data_categories=["contact.email"],
    )
    f.gym_api, f.grocer_api = make_api(f.gym), make_api(f.grocer)
    return f


def convert(f, value=None):
    body = {"customer_id": f.ada_gym.pk, "to_partner": f.grocer.pk}
    referral_id = f.gym_api.post(REFERRALS, body, format="json").json()["id"]
    f.grocer_api.post(f"{REFERRALS}/{referral_id}/accept", {}, format="json")
    response = f.grocer_api.post(
        f"{REFERRALS}/{referral_id}/convert", {"value": value} if value else {}, format="json"
    )
    assert response.status_code == 200, response.content
    return referral_id
