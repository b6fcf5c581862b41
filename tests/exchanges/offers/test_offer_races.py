"""Caps and idempotency under concurrency, on PostgreSQL: 50 threads, each with its own
connection, real transactions and real OAuth tokens through the API, released together at a
barrier. Never one redemption over a cap, never a 500, never a deadlock (every wait times
out, so a regression fails instead of hanging)."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal

import pytest

from consent.models import AccessEvent
from consent.services.consents import consent_withdraw
from exchanges.offers.models import Offer, Redemption
from exchanges.offers.services import OfferReward
from exchanges.rewards.ledger import ledger_verify
from exchanges.rewards.models import Reward
from tests.builders import api_client_for, make_client, make_token
from tests.exchanges.offers.support import make_world, published
from tests.exchanges.referrals.test_referral_races import answer, run_together

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("taxonomy", "postgresql"),
]

THREADS = 50


def _apis(partner, n: int) -> list:
    apis = []
    for _ in range(n):
        _token, raw = make_token(make_client(partner))
        api = api_client_for(raw)
        api.raise_request_exception = False
        apis.append(api)
    return apis


def _redeem(api, offer, link, external_id):
    def call():
        return api.post(
            f"/api/v1/offers/{offer.pk}/redemptions",
            {"customer_id": link.pk, "external_id": external_id},
            format="json",
        )

    return call


def _tally(outcomes) -> Counter:
    tally = Counter(answer(kind, result) for kind, result in outcomes)
    print(dict(tally))
    return tally


def test_the_total_cap_holds_under_50_concurrent_redemptions_each_with_one_reward():
    world = make_world()
    reward = OfferReward(world.gym.pk, Decimal("5.00"), "EUR")
    offer = published(world, cap_total=10, cap_per_customer=10, reward=reward)
    link = world.links["ada", "grocer"]
    apis = _apis(world.grocer, THREADS)

    outcomes = run_together([_redeem(api, offer, link, f"till-{n}") for n, api in enumerate(apis)])

    tally = _tally(outcomes)
    assert tally == {(201, ""): 10, (409, "cap_reached"): 40}, tally
    offer.refresh_from_db()
    assert offer.redemption_count == Redemption.objects.filter(offer=offer).count() == 10
    assert Reward.objects.count() == 10 == Redemption.objects.filter(reward__isnull=False).count()
    assert ledger_verify() == []


def test_the_per_customer_cap_holds_under_50_concurrent_redemptions():
    world = make_world()
    offer = published(world, cap_per_customer=2)
    apis = _apis(world.grocer, THREADS)
    link = world.links["ada", "grocer"]

    outcomes = run_together([_redeem(api, offer, link, f"till-{n}") for n, api in enumerate(apis)])

    tally = _tally(outcomes)
    assert tally == {(201, ""): 2, (409, "customer_cap_reached"): 48}, tally
    assert Redemption.objects.filter(offer=offer, customer=world.ada).count() == 2


def test_50_concurrent_retries_of_one_external_id_record_it_and_its_reward_once():
    world = make_world()
    reward = OfferReward(world.grocer.pk, Decimal("100"), "fresh-points")
    offer = published(world, cap_per_customer=5, reward=reward)
    apis = _apis(world.grocer, THREADS)
    link = world.links["ada", "grocer"]

    outcomes = run_together([_redeem(api, offer, link, "till-same") for api in apis])

    tally = _tally(outcomes)
    assert tally[(201, "")] == 1 and tally[(200, "")] == THREADS - 1, tally
    assert Redemption.objects.filter(offer=offer).count() == 1
    assert Offer.objects.get(pk=offer.pk).redemption_count == 1
    assert Reward.objects.count() == 1 and ledger_verify() == []


def test_a_withdrawal_racing_redemptions_never_lets_one_commit_after_it():
    world = make_world()
    reward = OfferReward(world.gym.pk, Decimal("1.00"), "EUR")
    offer = published(world, cap_per_customer=1000, reward=reward)
    apis = _apis(world.grocer, THREADS - 1)
    link = world.links["ada", "grocer"]
    calls = [_redeem(api, offer, link, f"till-{n}") for n, api in enumerate(apis)]

    def withdraw():
        time.sleep(0.5)  # let some redemptions get in first
        return consent_withdraw(consent=world.consent, customer=world.ada)

    calls.append(withdraw)

    outcomes = run_together(calls)

    assert outcomes[-1][0] == "ok", outcomes[-1]
    tally = _tally(outcomes[:-1])
    assert set(tally) <= {(201, ""), (403, "customer_not_eligible")}, tally
    withdrawn_at = world.consent.__class__.objects.get(pk=world.consent.pk).ended_at
    late = Redemption.objects.filter(offer=offer, created_at__gt=withdrawn_at)
    assert not late.exists()
    # every redemption that committed was told, and logged, exactly once per sponsor told
    assert AccessEvent.objects.filter(purpose="offers").count() == 2 * tally[(201, "")]
    # and every reward they earned was voided with the consent, as any pending reward is
    assert Reward.objects.count() == tally[(201, "")]
    assert set(Reward.objects.values_list("status", flat=True)) <= {"voided"}
    assert ledger_verify() == []
