"""POST /api/v1/activities: per-item refusals, the consent rule, rule thresholds and caps,
idempotency, and a query count that does not grow with the batch."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent.services.consents import consent_withdraw
from exchanges.rewards.models import ActivityEvent, Reward
from partners.webhooks.models import EventPayload, WebhookEndpoint
from tests.builders import make_api, make_customer, make_link, make_partner
from tests.exchanges.rewards.conftest import visits

URL = "/api/v1/activities"
pytestmark = pytest.mark.django_db


def post(api, items, **headers):
    return api.post(URL, {"items": items}, format="json", **headers)


def codes(response) -> dict[str, str]:
    return {r["external_id"]: r["code"] or r["status"] for r in response.json()["results"]}


def test_a_batch_within_the_consent_is_accepted_and_stores_only_the_link_type_time_and_quantity(
    world,
):
    response = post(world.gym_api, visits(world.ada_gym, 3))

    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 3, response.json()
    assert set(codes(response).values()) == {"accepted"}
    event = ActivityEvent.objects.get(external_id="v0")
    assert (event.partner_id, event.link_id, event.type_id, event.quantity) == (
        world.gym.pk,
        world.ada_gym.pk,
        "gym.visit",
        1,
    )


def test_a_mixed_batch_answers_every_item_with_its_own_code(world, settings):
    _ben, ben_gym = world.add_customer(consent=False)
    stranger = make_link(make_customer(), make_partner())  # another partner's id
    now = timezone.now()
    items = [
        *visits(world.ada_gym, 1, prefix="ok"),
        *visits(ben_gym, 1, prefix="ben"),
        *visits(stranger, 1, prefix="stranger"),
        {**visits(world.ada_gym, 1, prefix="type")[0], "type": "no.such"},
        {**visits(world.ada_gym, 1, prefix="norule")[0], "type": "grocery.purchase"},
        *visits(world.ada_gym, 1, prefix="ok"),  # the same external_id again in the batch
        *visits(world.ada_gym, 1, prefix="old", at=now - timedelta(days=61)),
        *visits(world.ada_gym, 1, prefix="future", at=now + timedelta(hours=1)),
    ]

    response = post(world.gym_api, items)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert [(r["external_id"], r["status"], r["code"]) for r in response.json()["results"]] == [
        ("ok0", "accepted", ""),
        ("ben0", "refused", "consent_required"),
        ("stranger0", "refused", "unknown_customer"),
        ("type0", "refused", "unknown_type"),
        ("norule0", "refused", "no_rule"),
        ("ok0", "refused", "duplicate"),
        ("old0", "refused", "too_old"),
        ("future0", "refused", "occurred_in_future"),
    ]
    assert all(r["detail"] for r in response.json()["results"] if r["status"] == "refused")
    assert ActivityEvent.objects.count() == 1


def test_the_age_window_is_configurable(world, settings):
    settings.ACTIVITY_MAX_AGE_DAYS = 3
    old = timezone.now() - timedelta(days=4)
    assert codes(post(world.gym_api, visits(world.ada_gym, 1, at=old))) == {"v0": "too_old"}


def test_a_consent_that_does_not_cover_the_types_category_refuses_it(world):
    world.consent.data_categories = ["activity.purchases"]
    world.consent.save(update_fields=["data_categories"])
    assert codes(post(world.gym_api, visits(world.ada_gym, 1))) == {"v0": "consent_required"}


def test_a_retried_batch_never_counts_twice(world):
    first = post(world.gym_api, visits(world.ada_gym, 5))
    again = post(world.gym_api, visits(world.ada_gym, 5))  # no Idempotency-Key: a new request

    assert first.json()["accepted"] == 5
    assert again.json()["accepted"] == 0
    assert set(codes(again).values()) == {"duplicate"}
    assert ActivityEvent.objects.count() == 5


def test_the_same_idempotency_key_replays_the_first_answer(world):
    items = visits(world.ada_gym, 2)
    first = post(world.gym_api, items, HTTP_IDEMPOTENCY_KEY="batch-1")
    again = post(world.gym_api, items, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("count", [0, 501])
def test_a_batch_must_hold_1_to_500_items(world, count):
    response = post(world.gym_api, visits(world.ada_gym, count))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert ActivityEvent.objects.count() == 0


def test_reporting_needs_the_events_write_scope(world):
    api = make_api(world.gym, scopes="rewards:read")
    response = post(api, visits(world.ada_gym, 1))
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_a_partner_of_no_rule_gets_no_rule(world):
    other = make_partner()
    link = make_link(world.ada, other)
    api = make_api(other, scopes="events:write")
    assert codes(post(api, visits(link, 1))) == {"v0": "no_rule"}


def test_a_rule_ended_at_an_earlier_partnership_version_no_longer_applies(world):
    world.rule.until_version = world.partnership.version + 1
    world.rule.save(update_fields=["until_version"])
    world.partnership.version += 1
    world.partnership.save(update_fields=["version"])
    assert codes(post(world.gym_api, visits(world.ada_gym, 1))) == {"v0": "no_rule"}


def test_a_rule_still_in_force_applies_at_a_later_partnership_version(world):
    world.partnership.version += 1
    world.partnership.save(update_fields=["version"])
    assert codes(post(world.gym_api, visits(world.ada_gym, 1))) == {"v0": "accepted"}


# --- thresholds and caps ----------------------------------------------------------------------


def rewards_of(customer) -> list[Reward]:
    return list(Reward.objects.filter(customer=customer).order_by("sequence"))


def test_seven_visits_earn_nothing_and_the_eighth_earns_one_pending_reward(world):
    post(world.gym_api, visits(world.ada_gym, 7))
    assert rewards_of(world.ada) == []

    post(world.gym_api, visits(world.ada_gym, 1, start=7))

    (reward,) = rewards_of(world.ada)
    assert (reward.status, reward.amount, reward.unit, reward.funder_id) == (
        "pending",
        5,
        "EUR",
        world.insurer.pk,
    )
    assert (reward.receiver_id, reward.to_customer, reward.consent_id) == (
        world.gym.pk,
        True,
        world.consent.pk,
    )
    assert reward.period == timezone.now().strftime("%Y-%m")
    assert reward.lock_at - reward.issued_at == timedelta(days=14)


def test_quantity_counts_towards_the_threshold(world):
    post(world.gym_api, [{**visits(world.ada_gym, 1)[0], "quantity": 8}])
    assert len(rewards_of(world.ada)) == 1


def test_the_cap_holds_per_customer_per_month(world):
    world.rule.cap_per_period = 2
    world.rule.save(update_fields=["cap_per_period"])

    post(world.gym_api, visits(world.ada_gym, 15))
    assert [r.sequence for r in rewards_of(world.ada)] == [1]
    post(world.gym_api, visits(world.ada_gym, 1, start=15))
    assert [r.sequence for r in rewards_of(world.ada)] == [1, 2]
    post(world.gym_api, visits(world.ada_gym, 9, start=16))  # 25 visits: still capped at 2
    assert [r.sequence for r in rewards_of(world.ada)] == [1, 2]


def test_visits_in_another_month_count_for_that_month(world):
    last_month = timezone.now().replace(day=1) - timedelta(days=1)
    post(world.gym_api, visits(world.ada_gym, 4, prefix="old", at=last_month))
    post(world.gym_api, visits(world.ada_gym, 4, prefix="new"))
    assert rewards_of(world.ada) == []


def test_the_consent_withdrawn_between_two_batches_refuses_the_second_and_voids_the_reward(world):
    post(world.gym_api, visits(world.ada_gym, 8))
    (reward,) = rewards_of(world.ada)

    consent_withdraw(consent=world.consent, customer=world.ada)
    second = post(world.gym_api, visits(world.ada_gym, 8, start=8))

    assert set(codes(second).values()) == {"consent_required"}
    reward.refresh_from_db()
    assert reward.status == "voided"
    assert ActivityEvent.objects.count() == 8


def test_the_funder_and_the_receiver_are_told_each_under_its_own_id(world):
    for partner in (world.gym, world.insurer):
        WebhookEndpoint.objects.create(
            partner=partner, url="https://hooks.example/x", event_types=["reward.issued"]
        )

    post(world.gym_api, visits(world.ada_gym, 8))

    bodies = {
        p.partner_id: json.loads(p.body)
        for p in EventPayload.objects.filter(event__type="reward.issued")
    }
    assert set(bodies) == {world.gym.pk, world.insurer.pk}
    assert bodies[world.insurer.pk]["data"]["customer_id"] == world.ada_insurer.pk
    assert bodies[world.gym.pk]["data"]["customer_id"] == world.ada_gym.pk
    assert bodies[world.insurer.pk]["data"]["value"] == {"amount": "5.00", "currency": "EUR"}


# --- query count --------------------------------------------------------------------------------


def test_the_query_count_does_not_grow_with_the_batch(world, django_assert_max_num_queries):
    """Bulk reads and writes: 500 items cost what 5 do (on SQLite, Django splits an insert
    into chunks of 999 parameters, so the insert of 500 events is several statements)."""
    customers = [world.add_customer()[1] for _ in range(5)]
    world.rule.threshold = 1000  # no reward: the evaluation's count query still runs
    world.rule.save(update_fields=["threshold"])

    def items(n: int, prefix: str) -> list[dict]:
        return [
            {**item, "customer_id": customers[i % 5].pk}
            for i, item in enumerate(visits(world.ada_gym, n, prefix=prefix))
        ]

    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert post(world.gym_api, items(5, "a")).json()["accepted"] == 5
    chunks = 0 if connection.vendor == "postgresql" else math.ceil(500 * 9 / 999) - 1
    with django_assert_max_num_queries(len(small.captured_queries) + chunks):
        assert post(world.gym_api, items(500, "b")).json()["accepted"] == 500
    assert len(small.captured_queries) <= 24
