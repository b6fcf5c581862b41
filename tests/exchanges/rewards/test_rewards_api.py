"""GET /api/v1/rewards and /rewards/{id}: the caller's own rewards under its own ids."""

from __future__ import annotations

import pytest

from exchanges.rewards import services
from exchanges.rewards.models import Reward
from tests.builders import make_api, make_partner
from tests.exchanges.rewards.conftest import visits

pytestmark = pytest.mark.django_db
REWARDS = "/api/v1/rewards"


def earn(world, customers: int = 1) -> list[Reward]:
    links = [world.ada_gym] + [world.add_customer()[1] for _ in range(customers - 1)]
    for n, link in enumerate(links):
        items = visits(link, 8, prefix=f"c{n}-")
        world.gym_api.post("/api/v1/activities", {"items": items}, format="json")
    return list(Reward.objects.all())


def test_the_funder_and_the_receiver_list_the_reward_each_under_its_own_customer_id(world):
    (reward,) = earn(world)

    for api, link in ((world.insurer_api, world.ada_insurer), (world.gym_api, world.ada_gym)):
        (row,) = api.get(REWARDS).json()["results"]
        assert row["id"] == reward.pk and row["customer_id"] == link.pk
        assert row["value"] == {"amount": "5.00", "currency": "EUR"}
        assert (row["status"], row["beneficiary"], row["funder"]) == (
            "pending",
            "customer",
            world.insurer.pk,
        )
        assert api.get(f"{REWARDS}/{reward.pk}").json() == row


def test_another_partner_gets_404_and_an_empty_list(world):
    (reward,) = earn(world)
    other = make_api(make_partner(), scopes="rewards:read")

    assert other.get(REWARDS).json()["results"] == []
    response = other.get(f"{REWARDS}/{reward.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_filters_by_status_rule_and_period(world):
    (reward,) = earn(world)
    services.rewards_post_due(now=reward.lock_at)
    api = world.insurer_api

    assert [r["id"] for r in api.get(REWARDS, {"status": "posted"}).json()["results"]] == [
        reward.pk
    ]
    assert api.get(REWARDS, {"status": "pending"}).json()["results"] == []
    assert len(api.get(REWARDS, {"rule": world.rule.pk}).json()["results"]) == 1
    assert api.get(REWARDS, {"rule": "rul_other"}).json()["results"] == []
    assert len(api.get(REWARDS, {"period": reward.period}).json()["results"]) == 1
    assert api.get(REWARDS, {"period": "1999-01"}).json()["results"] == []
    assert api.get(REWARDS, {"period": "1999-13"}).status_code == 400


@pytest.mark.parametrize("name", ["status", "rule", "period"])
def test_an_empty_filter_is_refused_not_ignored(world, name):
    """The schema says each filter is at least one character (found by schema fuzzing: an
    empty value was read as no filter, the form semantics of a query string)."""
    response = world.insurer_api.get(REWARDS, {name: ""})

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert response.json()["errors"][0]["field"] == name


def test_the_list_pages_with_a_cursor_and_pins_its_queries(world, django_assert_max_num_queries):
    earn(world, customers=5)
    world.insurer_api.get(REWARDS)  # warm the token cache
    with django_assert_max_num_queries(1):
        first = world.insurer_api.get(REWARDS, {"limit": 2}).json()
    seen = [r["id"] for r in first["results"]]
    page = first
    while page["next"]:
        page = world.insurer_api.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    with django_assert_max_num_queries(1):
        world.insurer_api.get(f"{REWARDS}/{seen[0]}")
    assert sorted(seen) == sorted(Reward.objects.values_list("pk", flat=True))
    assert len(seen) == 5


def test_reading_needs_the_rewards_read_scope(world):
    api = make_api(world.insurer, scopes="partner:read")
    assert api.get(REWARDS).json()["code"] == "insufficient_scope"
