"""Races on PostgreSQL (issue 14, items 1, 2 and 7): a customer's withdrawal against the
recipient reading the referral, a referral sent while its consent is withdrawn, and one
partner's concurrent first referrals of a customer to the same recipient.

Threads each with their own connection (closed at the end) and real transactions, through
the real API with real OAuth tokens; every round starts at a barrier and every wait has a
timeout, so a regression fails instead of hanging. Each test prints its tally (requests,
successes, conflicts, 500s): ``pytest -s`` shows it, and a failure shows it anyway.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connections

from consent.models import Consent, PartnerLink
from consent.services.consents import consent_grant, consent_withdraw
from exchanges.referrals.models import Referral
from partners.models import Purpose
from partners.webhooks.models import EventPayload
from tests.builders import (
    api_client_for,
    make_client,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
    make_token,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("taxonomy", "postgresql"),
]

REFERRALS = "/api/v1/referrals"
TIMEOUT = 60  # seconds any one thread may take; a deadlock is detected after one
OPEN = [Referral.Status.SENT, Referral.Status.ACCEPTED]


def run_together(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Start every call at one barrier, each in its own thread and connection; each
    outcome is ("ok", result) or ("error", exception)."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    outcomes: list[tuple[str, Any]] = [("error", TimeoutError("did not finish"))] * len(calls)

    def body(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index] = ("ok", call())
        except Exception as error:  # the tally reports every failure
            outcomes[index] = ("error", error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=body, args=(i, call), daemon=True) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting"
    return outcomes


def api_of(partner):
    """A fresh client of the partner with a real token; a 500 comes back as a response
    rather than raising in the calling thread."""
    _token, raw = make_token(make_client(partner))
    api = api_client_for(raw)
    api.raise_request_exception = False
    return api


class World:
    """A gym that may refer customers to a grocer with their name and email."""

    def __init__(self) -> None:
        self.gym = make_partner(name="Pulse Fitness")
        self.grocer = make_partner(name="Fresh Basket")
        make_partnership(
            self.gym, self.grocer, purpose="referral", categories=("contact.name", "contact.email")
        )
        self.purpose = Purpose.objects.get(pk="referral")

    def customer(self):
        customer = make_customer(name="Ada Lovelace")
        customer.gym_link = make_link(customer, self.gym)
        customer.consent = consent_grant(
            customer=customer,
            purpose=self.purpose,
            source_id=self.gym.pk,
            recipient_id=self.grocer.pk,
            data_categories=["contact.email"],
        )
        return customer


@pytest.fixture
def world(db) -> World:
    return World()


def send(api, customer, *, to_partner: str) -> Any:
    return api.post(
        REFERRALS,
        {"customer_id": customer.gym_link.pk, "to_partner": to_partner, "note": "Keen cook"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def withdraw(customer, *, after: float = 0.0) -> None:
    time.sleep(after)
    consent_withdraw(consent=customer.consent, customer=customer)


def answer(kind: str, result: Any) -> tuple[Any, str]:
    """(status, problem code) of a response; ("raised", …) if the call itself raised."""
    if kind != "ok":
        return "raised", type(result).__name__
    try:
        return result.status_code, result.json().get("code", "")
    except ValueError:  # a 500 page that is not problem+json
        return result.status_code, ""


def failure_kinds(outcomes: list[tuple[str, Any]]) -> Counter:
    return Counter(str(error).splitlines()[0][:60] for kind, error in outcomes if kind == "error")


# --- item 1: a withdrawal never fails because a partner was reading ---------------------------


def poll(api, referral_id: str, started, stop, statuses: list[int]) -> None:
    """Read the referral until told to stop, once at least; meet at ``started`` after the
    first read (so the withdrawals begin while every reader is reading)."""
    try:
        statuses.append(api.get(f"{REFERRALS}/{referral_id}").status_code)
        started.wait()
        while not stop.is_set():
            statuses.append(api.get(f"{REFERRALS}/{referral_id}").status_code)
    finally:
        connections.close_all()


READ_ROUNDS, READ_CUSTOMERS = 3, 6  # 18 withdrawals, each against a reader polling its referral


def test_withdrawals_succeed_first_time_while_the_recipient_polls_the_referrals(world):
    customers = [world.customer() for _ in range(READ_ROUNDS * READ_CUSTOMERS)]
    gym_api = api_of(world.gym)
    referral_of = {}
    for customer in customers:
        response = send(gym_api, customer, to_partner=world.grocer.pk)
        assert response.status_code == 201, response.json()
        referral_of[customer.pk] = response.json()["id"]
    reads: list[int] = []  # list.append is atomic: no lock needed across the readers
    withdrawals: list[tuple[str, Any]] = []

    for round_ in range(READ_ROUNDS):
        batch = customers[round_ * READ_CUSTOMERS : (round_ + 1) * READ_CUSTOMERS]
        stop = threading.Event()
        started = threading.Barrier(len(batch) + 1, timeout=TIMEOUT)

        readers = [
            threading.Thread(
                target=poll,
                args=(api_of(world.grocer), referral_of[c.pk], started, stop, reads),
                daemon=True,
            )
            for c in batch
        ]
        for reader in readers:
            reader.start()
        started.wait()
        withdrawals += run_together([partial(withdraw, c) for c in batch])
        stop.set()
        for reader in readers:
            reader.join(TIMEOUT)
        assert not any(reader.is_alive() for reader in readers)

    succeeded = sum(kind == "ok" for kind, _ in withdrawals)
    tally = Counter(reads)
    print(
        f"\nitem 1: {len(withdrawals)} withdrawals, {succeeded} succeeded first time, "
        f"{len(withdrawals) - succeeded} failed {dict(failure_kinds(withdrawals))}; "
        f"{len(reads)} reads by the recipient, {tally[200]} answered 200, "
        f"{tally[500]} answered 500, all {dict(tally)}"
    )
    assert succeeded == len(withdrawals)
    assert set(tally) == {200}
    assert not Referral.objects.filter(status__in=OPEN).exists()
    assert not Consent.objects.filter(pk__in=[c.consent.pk for c in customers], status="active")


# --- item 2: no referral commits under an ended consent ---------------------------------------

RACE_ROUNDS, RACE_CUSTOMERS = 6, 4  # 24 customers: one referral racing one withdrawal each


def test_a_referral_racing_the_withdrawal_of_its_consent_is_refused_or_ended(world):
    gym_api = [api_of(world.gym) for _ in range(RACE_CUSTOMERS)]
    creates: list[tuple[str, Any]] = []
    withdrawals: list[tuple[str, Any]] = []

    for round_ in range(RACE_ROUNDS):
        batch = [world.customer() for _ in range(RACE_CUSTOMERS)]
        calls: list[Callable[[], Any]] = []
        for index, (api, customer) in enumerate(zip(gym_api, batch, strict=True)):
            # Withdrawals start 0 to 84 ms after their referral, so each side wins some races.
            after = ((round_ * RACE_CUSTOMERS + index) % 8) * 0.012
            calls += [partial(send, api, customer, to_partner=world.grocer.pk)]
            calls += [partial(withdraw, customer, after=after)]
        outcomes = run_together(calls)
        creates += outcomes[0::2]
        withdrawals += outcomes[1::2]

    answers = Counter(answer(kind, result) for kind, result in creates)
    created = {result.json()["id"] for kind, result in creates if result.status_code == 201}
    ended = Referral.objects.exclude(consent__status="active")
    open_under_ended = ended.filter(status__in=OPEN).count()
    snapshots_kept = ended.exclude(snapshot_sealed="").count()
    told = {
        json.loads(row.body)["data"]["referral_id"]
        for row in EventPayload.objects.filter(event__type="referral.withdrawn")
    }
    succeeded = sum(kind == "ok" for kind, _ in withdrawals)
    print(
        f"\nitem 2: {len(creates)} referrals raced {len(withdrawals)} withdrawals: "
        f"{dict(answers)}; withdrawals {succeeded} succeeded, "
        f"{len(withdrawals) - succeeded} failed {dict(failure_kinds(withdrawals))}; "
        f"{open_under_ended} open referrals under an ended consent, {snapshots_kept} "
        f"snapshots kept, {len(created - told)} created referrals never told withdrawn"
    )
    assert succeeded == len(withdrawals)
    assert set(answers) <= {(201, ""), (403, "consent_required")}
    assert open_under_ended == 0
    assert snapshots_kept == 0
    assert created <= told  # every referral that committed first was ended, and B heard
    assert Referral.objects.filter(pk__in=created, status="withdrawn").count() == len(created)


# --- item 7: concurrent first referrals of one customer to one recipient ----------------------

DUPLICATES = 50


def test_concurrent_first_referrals_to_one_recipient_answer_201_once_and_409_after(world):
    customer = world.customer()
    apis = [api_of(world.gym) for _ in range(DUPLICATES)]

    outcomes = run_together(
        [partial(send, api, customer, to_partner=world.grocer.pk) for api in apis]
    )

    answers = Counter(answer(kind, result) for kind, result in outcomes)
    print(
        f"\nitem 7: {len(outcomes)} concurrent first referrals: "
        f"{answers[201, '']} answered 201, {answers[409, 'duplicate_referral']} answered 409 "
        f"duplicate_referral, {sum(n for (s, _c), n in answers.items() if s == 500)} answered "
        f"500, all {dict(answers)}"
    )
    assert answers == {(201, ""): 1, (409, "duplicate_referral"): DUPLICATES - 1}
    assert PartnerLink.objects.filter(customer=customer, partner=world.grocer).count() == 1
    assert Referral.objects.filter(customer=customer).count() == 1
