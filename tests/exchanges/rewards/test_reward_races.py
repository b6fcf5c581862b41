"""Races on PostgreSQL: identical triggers at once give exactly one reward; a withdrawal
racing a batch either ends the reward it issued or refuses the batch. Threads with their
own connections and real transactions, every wait bounded."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections

from consent.services.consents import consent_withdraw
from exchanges.rewards.models import ActivityEvent, LedgerTransaction, Reward
from tests.builders import api_client_for, make_client, make_consent, make_token
from tests.exchanges.rewards.conftest import visits

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgresql"),
]
TIMEOUT = 90


def run_together(calls):
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    outcomes = [("error", TimeoutError("did not finish"))] * len(calls)

    def body(index, call):
        try:
            barrier.wait()
            outcomes[index] = ("ok", call())
        except Exception as error:
            outcomes[index] = ("error", error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting"
    return outcomes


def test_fifty_concurrent_identical_batches_give_exactly_one_reward(world):
    items = visits(world.ada_gym, 8)
    apis = []
    for _ in range(50):
        _token, raw = make_token(make_client(world.gym), scopes="events:write")
        apis.append(api_client_for(raw))

    outcomes = run_together(
        [
            lambda api=api: api.post("/api/v1/activities", {"items": items}, format="json")
            for api in apis
        ]
    )

    statuses = Counter(o[1].status_code if o[0] == "ok" else repr(o[1]) for o in outcomes)
    assert statuses == {200: 50}, statuses
    accepted = sum(o[1].json()["accepted"] for o in outcomes)
    assert accepted == 8  # each item accepted once, in whichever batch got there first
    assert ActivityEvent.objects.count() == 8
    assert Reward.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="issue").count() == 1


def test_a_withdrawal_racing_a_batch_never_leaves_a_pending_reward_under_an_ended_consent(world):
    for round_ in range(5):
        world.consent.refresh_from_db()
        items = visits(world.ada_gym, 8, prefix=f"r{round_}-")
        outcomes = run_together(
            [
                lambda items=items: world.gym_api.post(
                    "/api/v1/activities", {"items": items}, format="json"
                ),
                lambda: consent_withdraw(consent=world.consent, customer=world.ada),
            ]
        )
        assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
        assert not Reward.objects.filter(status="pending").exists()
        world.consent = make_consent(
            world.ada, world.gym, world.insurer, partnership=world.partnership
        )


def test_two_concurrent_halves_of_the_threshold_still_earn_the_reward(world):
    """Each batch alone is below the threshold: the second must see the first's events,
    so batches about one customer run one after the other (the link rows are locked)."""
    world.rule.cap_per_period = 10
    world.rule.save(update_fields=["cap_per_period"])
    for round_ in range(3):
        halves = [visits(world.ada_gym, 4, prefix=f"{round_}{half}-") for half in "ab"]
        apis = []
        for _ in halves:
            _token, raw = make_token(make_client(world.gym), scopes="events:write")
            apis.append(api_client_for(raw))
        outcomes = run_together(
            [
                lambda api=api, items=items: api.post(
                    "/api/v1/activities", {"items": items}, format="json"
                )
                for api, items in zip(apis, halves, strict=True)
            ]
        )
        assert [o[1].json()["accepted"] for o in outcomes] == [4, 4], outcomes
    assert Reward.objects.count() == 3  # 24 visits, one reward per 8
