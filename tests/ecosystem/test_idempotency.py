import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from ecosystem.models import AuditEntry, IdempotencyRecord
from ecosystem.services.idempotency import idempotency_purge
from tests.ecosystem import urls

pytestmark = pytest.mark.urls("tests.ecosystem.urls")


def _post(client, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/test/things", body, content_type="application/json", **headers)


def test_retry_with_same_key_and_body_replays_without_acting_again(db, client):
    first = _post(client, {"name": "a", "count": 1}, key="k-1")
    second = _post(client, {"count": 1, "name": "a"}, key="k-1")  # same body, other key order
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert AuditEntry.objects.filter(action="thing.create").count() == 1


def test_same_key_with_a_different_body_is_422(db, client):
    _post(client, {"name": "a", "count": 1}, key="k-2")
    response = _post(client, {"name": "b", "count": 1}, key="k-2")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert AuditEntry.objects.filter(action="thing.create").count() == 1


def test_without_a_key_every_post_acts(db, client):
    _post(client, {"name": "a", "count": 1})
    _post(client, {"name": "a", "count": 1})
    assert AuditEntry.objects.filter(action="thing.create").count() == 2
    assert not IdempotencyRecord.objects.exists()


def test_a_client_error_is_replayed_too(db, client):
    first = _post(client, {"name": "a"}, key="k-3")
    second = _post(client, {"name": "a"}, key="k-3")
    assert first.status_code == second.status_code == 400
    assert second.json()["code"] == "validation_error"


# Non-ASCII: the schema's pattern is printable ASCII (schema fuzzing's negative phase sends it).
@pytest.mark.parametrize("key", ["x" * 256, "bad\nkey", "cl\u00e9"])
def test_an_invalid_key_is_refused_and_nothing_is_done(db, client, key):
    response = _post(client, {"name": "a", "count": 1}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert not AuditEntry.objects.exists()


def test_purge_removes_only_expired_keys(db, client, settings):
    _post(client, {"name": "a", "count": 1}, key="fresh")
    old = IdempotencyRecord.objects.get()
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=old.created_at - __import__("datetime").timedelta(hours=25)
    )
    _post(client, {"name": "b", "count": 1}, key="new")
    assert idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_gets_409_and_the_work_happens_once():
    """Two real requests in two threads (each with its own connection and transactions)."""
    entered, release = threading.Event(), threading.Event()
    urls.gate.update(entered=entered, release=release)
    body = {"name": "a", "count": 1}

    def call():
        try:
            return _post(Client(), body, key="race").status_code
        finally:
            connection.close()

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(call)
            assert entered.wait(timeout=10), "the first request never started"
            # On PostgreSQL the claim is part of the request's one transaction: nobody else
            # sees it before the work commits with it; elsewhere it committed on its own.
            assert IdempotencyRecord.objects.filter(key="race").exists() == (
                connection.vendor != "postgresql"
            )
            second = pool.submit(call).result(timeout=20)
            release.set()
            assert (first.result(timeout=20), second) == (201, 409)
    finally:
        urls.gate.update(entered=None, release=None)
        release.set()
    assert AuditEntry.objects.filter(action="thing.create").count() == 1
    replay = _post(Client(), body, key="race")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"


def test_stored_responses_are_encrypted_at_rest(db, client):
    """A replayable response may carry a one-time secret; the table must not reveal it."""
    _post(client, {"name": "secret-bearing", "count": 1}, key="k-enc")
    stored = bytes(IdempotencyRecord.objects.get(key="k-enc").response_body)
    assert b"secret-bearing" not in stored
    replay = _post(client, {"name": "secret-bearing", "count": 1}, key="k-enc")
    assert replay.json()["name"] == "secret-bearing"


def test_a_stored_response_moved_to_another_record_does_not_replay(db, client):
    from ecosystem.crypto import DecryptionError

    _post(client, {"name": "a", "count": 1}, key="k-a")
    _post(client, {"name": "b", "count": 1}, key="k-b")
    first = IdempotencyRecord.objects.get(key="k-a")
    IdempotencyRecord.objects.filter(key="k-b").update(response_body=first.response_body)
    with pytest.raises(DecryptionError):
        _post(client, {"name": "b", "count": 1}, key="k-b")


def test_a_claim_left_in_flight_by_a_dead_request_is_taken_over_after_its_lease(db, client):
    from datetime import timedelta

    from django.utils import timezone

    from ecosystem.services.idempotency import IN_FLIGHT_LEASE

    _post(client, {"name": "a", "count": 1}, key="k-dead")
    # As if the worker had been killed mid-request: the claim was never released.
    IdempotencyRecord.objects.update(state="in_flight", response_status=None)
    assert _post(client, {"name": "a", "count": 1}, key="k-dead").status_code == 409

    IdempotencyRecord.objects.update(
        created_at=timezone.now() - IN_FLIGHT_LEASE - timedelta(seconds=1)
    )
    retried = _post(client, {"name": "a", "count": 1}, key="k-dead")

    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert AuditEntry.objects.filter(action="thing.create").count() == 2


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_server_error_rolls_back_the_work_and_the_claim(postgresql):
    client = Client(raise_request_exception=False)
    response = _post(client, {"name": "boom", "count": 1}, key="k-boom")
    assert response.status_code == 500
    assert not AuditEntry.objects.exists()  # the work went with the request's transaction
    assert not IdempotencyRecord.objects.exists()  # and the key is free for a retry
    urls_ok = _post(Client(), {"name": "fine", "count": 1}, key="k-boom")
    assert urls_ok.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_one_commit_holds_the_claim_the_work_and_the_response(postgresql):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = _post(Client(), {"name": "a", "count": 1}, key="k-one")
    assert response.status_code == 201
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert statements.count("INSERT") == 2  # the claim and the audit row
    assert statements.count("UPDATE") == 1  # the stored response
    assert "SAVEPOINT" not in statements  # nothing nested: one transaction, one commit
    record = IdempotencyRecord.objects.get(key="k-one")
    assert record.state == "completed" and AuditEntry.objects.count() == 1
