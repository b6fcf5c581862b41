"""Claiming and recording batches: PostgreSQL's one-statement claim (UPDATE … SKIP LOCKED …
RETURNING) and one-statement record (UPDATE … FROM VALUES), SQLite's ORM path, and the
rows each leaves."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from ecosystem import http, ssrf
from partners.webhooks import delivery
from partners.webhooks.models import Delivery, DeliveryAttempt
from tests.partners.webhooks.webhooks_support import make_delivery, subscribe

Status = Delivery.Status


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """The endpoints' host resolves to a public address (DNS is the one thing mocked)."""
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34"])


def test_a_claim_leases_the_due_rows_in_publishing_order_with_their_payloads(db):
    endpoint, _ = subscribe("https://hooks.example/in")
    other, _ = subscribe("https://hooks.example/other")
    now = timezone.now()
    due = [
        make_delivery(endpoint, {"n": n}, created_at=now + timedelta(seconds=n)) for n in (2, 0, 1)
    ]
    later = make_delivery(endpoint, next_attempt_at=now + timedelta(hours=1))
    failed = make_delivery(endpoint, status=Status.FAILED, next_attempt_at=None)
    elsewhere = make_delivery(other)

    claimed_at, batch = delivery._claim_batch(endpoint.pk)

    assert [d.pk for d in batch] == [due[1].pk, due[2].pk, due[0].pk]
    assert [d.payload.body for d in batch] == [d.payload.body for d in (due[1], due[2], due[0])]
    assert [d.payload.public_id for d in batch] == [due[i].payload.public_id for i in (1, 2, 0)]
    assert all(d.attempts == 0 for d in batch)
    rows = dict(Delivery.objects.values_list("pk", "status"))
    assert {rows[d.pk] for d in due} == {"sending"}
    assert (rows[later.pk], rows[failed.pk], rows[elsewhere.pk]) == ("pending", "failed", "pending")
    leased = Delivery.objects.get(pk=due[0].pk).next_attempt_at
    assert leased == claimed_at + delivery.lease()
    assert delivery._claim_batch(endpoint.pk)[1] == []  # nothing due is left


def test_a_claim_takes_at_most_a_batch(db):
    endpoint, _ = subscribe("https://hooks.example/in")
    for n in range(delivery.BATCH_SIZE + 3):
        make_delivery(endpoint, {"n": n})

    first = delivery._claim_batch(endpoint.pk)[1]
    second = delivery._claim_batch(endpoint.pk)[1]

    assert (len(first), len(second)) == (delivery.BATCH_SIZE, 3)
    assert not {d.pk for d in first} & {d.pk for d in second}


def _sent(item: Delivery, code: int | None, error: str = "") -> delivery._Sent:
    return delivery._Sent(item, timezone.now(), http.HttpResult(code, "body", 7, error))


def test_recording_a_batch_writes_each_outcome_and_attempt_but_not_rows_taken_back(db, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 60]
    endpoint, _ = subscribe("https://hooks.example/in")
    for n in range(5):
        make_delivery(endpoint, {"n": n})
    _at, batch = delivery._claim_batch(endpoint.pk)
    ok, retry, refused, taken_back, unsent = batch
    Delivery.objects.filter(pk=taken_back.pk).update(status=Status.PENDING)  # by the sweep
    Delivery.objects.filter(pk=refused.pk).update(attempts=1)
    refused.attempts = 1  # its second attempt: the schedule has none after it

    delivery._record_batch(
        endpoint,
        batch,
        [
            _sent(ok, 200),
            _sent(retry, None, "timed out"),
            _sent(refused, 500),
            _sent(taken_back, 200),
        ],
    )

    rows = {d.pk: d for d in Delivery.objects.all()}
    assert (rows[ok.pk].status, rows[ok.pk].attempts, rows[ok.pk].next_attempt_at) == (
        "succeeded",
        1,
        None,
    )
    assert (rows[ok.pk].last_status_code, rows[ok.pk].last_error) == (200, "")
    assert (rows[retry.pk].status, rows[retry.pk].attempts) == ("pending", 1)
    assert (rows[retry.pk].last_status_code, rows[retry.pk].last_error) == (None, "timed out")
    assert rows[retry.pk].next_attempt_at > rows[retry.pk].last_attempt_at
    assert (rows[refused.pk].status, rows[refused.pk].attempts) == ("failed", 2)
    assert (rows[refused.pk].last_error, rows[refused.pk].next_attempt_at) == ("HTTP 500", None)
    assert (rows[taken_back.pk].status, rows[taken_back.pk].attempts) == ("pending", 0)
    assert rows[unsent.pk].status == "pending" and rows[unsent.pk].attempts == 0
    attempts = {
        (a.delivery_id, a.number, a.status_code, a.error) for a in DeliveryAttempt.objects.all()
    }
    assert attempts == {
        (ok.pk, 1, 200, ""),
        (retry.pk, 1, None, "timed out"),
        (refused.pk, 2, 500, "HTTP 500"),
    }


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_never_claim_one_delivery_twice(postgresql):
    endpoint, _ = subscribe("https://hooks.example/in")
    made = {make_delivery(endpoint, {"n": n}).pk for n in range(3 * delivery.BATCH_SIZE + 7)}
    start = threading.Barrier(2)
    claimed: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def claim(slot: int) -> None:
        try:
            while True:
                start.wait(10)  # every claim of one worker races one of the other
                batch = delivery._claim_batch(endpoint.pk)[1]
                claimed[slot] += [d.pk for d in batch]
                if not batch:
                    start.abort()  # the other worker's next wait ends too
                    return
        except threading.BrokenBarrierError:
            return
        except BaseException as exc:
            errors.append(exc)
            start.abort()
        finally:
            connection.close()

    workers = [threading.Thread(target=claim, args=(slot,)) for slot in (0, 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert errors == []
    assert len(claimed[0]) + len(claimed[1]) == len(made)
    assert set(claimed[0]) | set(claimed[1]) == made
    assert not set(claimed[0]) & set(claimed[1])
    assert claimed[0] and claimed[1]  # both took work: the claims did run side by side
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sending"}
