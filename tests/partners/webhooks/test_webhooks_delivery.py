"""Delivering to a real HTTP receiver on 127.0.0.1: signatures, retries, attempt records,
endpoint disabling, redirects, timeouts, DNS rebinding and slow endpoints."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from ecosystem import ssrf
from ecosystem.celery import app as celery_app
from partners.webhooks.delivery import endpoint_deliver
from partners.webhooks.events import event_publish
from partners.webhooks.models import Delivery, EventPayload, WebhookEndpoint
from partners.webhooks.services import webhook_endpoint_rotate_secret
from partners.webhooks.tasks import webhook_sweep_task
from tests.builders import make_partner
from tests.partners.webhooks.test_webhooks_signing import documented_verifiers
from tests.partners.webhooks.webhooks_support import (
    Answer,
    Receiver,
    make_delivery,
    make_due,
    subscribe,
)

pytestmark = pytest.mark.usefixtures("eager_tasks")


def publish(partner, data=None, type="referral.received"):
    return event_publish(type=type, payloads={partner.pk: data or {"referral_id": "ref_1"}})


def sweep(committed):
    return committed(webhook_sweep_task)


def test_an_event_reaches_a_real_receiver_signed_and_every_attempt_is_recorded(
    db, receiver, committed
):
    partner = make_partner()
    _endpoint, secret = subscribe(receiver.url, partner)

    event = committed(publish, partner, {"referral_id": "ref_1", "customer_id": "cus_1"})

    [request] = receiver.wait_for(1)
    payload = EventPayload.objects.get(event=event, partner=partner)
    assert request.body == payload.body.encode()  # the bytes sent are the bytes signed
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == payload.public_id != event.pk
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 30
    assert Webhook(secret).verify(request.body, request.headers) == {
        "type": "referral.received",
        "timestamp": event.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": {"referral_id": "ref_1", "customer_id": "cus_1"},
    }
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("succeeded", 1, None)
    attempt = delivery.attempt_log.get()
    assert (attempt.number, attempt.status_code, attempt.response_body, attempt.error) == (
        1,
        200,
        "ok",
        "",
    )
    assert attempt.latency_ms < 15_000


def test_a_failing_receiver_is_retried_on_the_schedule_and_recovers(
    db, receiver, committed, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    partner = make_partner()
    endpoint, secret = subscribe(receiver.url, partner)
    receiver.answer(500, Answer(503, body=b"maintenance"))

    event = committed(publish, partner)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 4 <= wait <= 6  # 5 s, ±20 % jitter
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None

    assert sweep(committed) == 0  # not due yet: nothing is sent early
    make_due(delivery)
    sweep(committed)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 2, "HTTP 503")
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 240 <= wait <= 360  # 5 min, ±20 %

    make_due(delivery)
    sweep(committed)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("succeeded", 3, None)
    log = list(delivery.attempt_log.values_list("number", "status_code", "response_body"))
    assert log == [(1, 500, "ok"), (2, 503, "maintenance"), (3, 200, "ok")]
    requests = receiver.wait_for(3)
    assert {r.headers["webhook-id"] for r in requests} == {event.public_ids[partner.pk]}
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.enabled


def test_attempts_are_bounded_by_the_schedule(db, receiver, committed, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 5, 10]
    receiver.default = Answer(500)
    partner = make_partner()
    subscribe(receiver.url, partner)

    committed(publish, partner)
    delivery = Delivery.objects.get()
    for _ in range(4):
        make_due(delivery)
        sweep(committed)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.received) == 3


def test_410_gone_disables_the_endpoint_fails_its_waiting_deliveries_and_tells_the_partner(
    db, receiver, committed, mailbox
):
    partner = make_partner(contact_email="ops@brand.example")
    endpoint, _secret = subscribe(receiver.url, partner)
    first, waiting = make_delivery(endpoint), make_delivery(endpoint)
    receiver.answer(Answer(410, body=b"gone"))

    committed(endpoint_deliver, endpoint_id=endpoint.pk)

    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "gone")
    first.refresh_from_db()
    waiting.refresh_from_db()
    assert (first.status, first.last_status_code) == ("failed", 410)
    assert (waiting.status, waiting.last_error, waiting.next_attempt_at) == (
        "failed",
        "endpoint disabled",
        None,
    )
    [email] = mailbox
    assert email.to == ["ops@brand.example"]
    assert endpoint.pk in email.body and "410" in email.body
    assert committed(publish, partner) and not Delivery.objects.filter(status="pending").exists()


def test_a_redirect_is_a_failure_and_is_not_followed(db, receiver, committed):
    elsewhere = Receiver()
    try:
        partner = make_partner()
        subscribe(receiver.url, partner)
        receiver.answer(Answer(307, location=elsewhere.url))

        committed(publish, partner)

        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.last_status_code) == ("pending", 307)
        assert "redirects are not followed" in delivery.last_error
        assert elsewhere.received == []
    finally:
        elsewhere.stop()


def test_a_receiver_slower_than_the_timeout_is_a_failure(db, receiver, committed, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.answer(Answer(200, delay=2))
    partner = make_partner()
    subscribe(receiver.url, partner)

    committed(publish, partner)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error == "timed out after 1 s"
    assert 900 <= delivery.attempt_log.get().latency_ms < 2000


def test_a_receiver_that_is_down_then_back_gets_the_delivery_with_the_same_id(
    db, receiver, committed
):
    partner = make_partner()
    _endpoint, secret = subscribe(receiver.url, partner)
    committed(publish, partner)  # warms the keep-alive connection the outage will break
    receiver.stop()

    event = committed(publish, partner)
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("connection failed")

    receiver.start()
    make_due(delivery)
    sweep(committed)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    request = receiver.wait_for(2)[-1]
    assert request.headers["webhook-id"] == event.public_ids[partner.pk]
    Webhook(secret).verify(request.body, request.headers)


def test_after_a_rotation_both_secrets_verify_until_the_grace_period_ends(
    db, receiver, committed, settings
):
    settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = 3600
    partner = make_partner()
    endpoint, old = subscribe(receiver.url, partner)

    endpoint, new = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=None)
    committed(publish, partner)

    during = receiver.wait_for(1)[-1]
    assert new != old
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(during.body, during.headers)
    Webhook(old).verify(during.body, during.headers)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    committed(publish, partner)

    after = receiver.wait_for(2)[-1]
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)


def test_a_v1a_endpoint_is_signed_with_ed25519_and_verifies_with_its_public_key(
    db, receiver, committed
):
    partner = make_partner()
    endpoint, secret = subscribe(receiver.url, partner, signature_scheme="v1a")
    assert secret is None and endpoint.public_key.startswith("whpk_")

    committed(publish, partner)

    [request] = receiver.wait_for(1)
    assert request.headers["webhook-signature"].startswith("v1a,")
    documented_verifiers()["verify_webhook_v1a"](endpoint.public_key, request.headers, request.body)


def test_the_documented_function_verifies_a_real_delivery(db, receiver, committed):
    partner = make_partner()
    _endpoint, secret = subscribe(receiver.url, partner)
    committed(publish, partner)
    [request] = receiver.wait_for(1)
    documented_verifiers()["verify_webhook"](secret, request.headers, request.body)


def test_a_host_that_rebinds_to_a_private_address_after_registration_is_not_contacted(
    db, committed, monkeypatch
):
    answers = iter([["93.184.216.34"], ["10.0.0.1"]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: next(answers))
    partner = make_partner()
    subscribe("https://hooks.partner.example/hook", partner)  # resolves to a public address

    committed(publish, partner)  # now resolves to 10.0.0.1: the network guard would fail a connect

    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.last_error == ("blocked: The host resolves to 10.0.0.1, a private address.")
    assert delivery.attempt_log.get().status_code is None


def test_an_endpoint_failing_for_too_long_is_disabled_and_its_partner_emailed(
    db, receiver, committed, mailbox, settings
):
    settings.WEBHOOK_DISABLE_AFTER_FAILING_SECONDS = 3600
    receiver.default = Answer(500)
    partner = make_partner(contact_email="ops@brand.example")
    endpoint, _secret = subscribe(receiver.url, partner)
    committed(publish, partner)
    endpoint.refresh_from_db()
    assert endpoint.enabled and mailbox == []

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(seconds=3601)
    )
    committed(publish, partner)

    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "failing")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}
    [email] = mailbox
    assert email.to == ["ops@brand.example"] and "failing for too long" in email.body


def test_running_the_task_again_sends_nothing_twice(db, receiver, committed):
    partner = make_partner()
    endpoint, _secret = subscribe(receiver.url, partner)
    make_delivery(endpoint)

    assert committed(endpoint_deliver, endpoint_id=endpoint.pk) == 1
    assert committed(endpoint_deliver, endpoint_id=endpoint.pk) == 0
    assert committed(endpoint_deliver, endpoint_id="whe_missing") == 0

    assert len(receiver.received) == 1
    assert Delivery.objects.get().attempts == 1


def test_a_delivery_to_a_disabled_endpoint_fails_without_a_request(db, receiver, committed):
    partner = make_partner()
    endpoint, _secret = subscribe(receiver.url, partner)
    delivery = make_delivery(endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason="partner")

    assert committed(endpoint_deliver, endpoint_id=endpoint.pk) == 0

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "endpoint disabled")
    assert receiver.received == []


def test_a_batch_is_sent_over_one_kept_alive_connection_in_order(db, receiver, committed):
    partner = make_partner()
    endpoint, secret = subscribe(receiver.url, partner)
    deliveries = [make_delivery(endpoint, {"n": n}) for n in range(5)]

    assert committed(endpoint_deliver, endpoint_id=endpoint.pk) == 5

    requests = receiver.wait_for(5)
    assert [r.headers["webhook-id"] for r in requests] == [d.payload.public_id for d in deliveries]
    assert all(Webhook(secret).verify(r.body, r.headers) for r in requests)
    assert len(receiver.connections_seen) == 1


@pytest.mark.django_db(transaction=True)
def test_a_slow_endpoint_does_not_hold_up_other_partners_deliveries(settings):
    """Two real receivers, two worker threads: while one task waits on the slow endpoint
    (which may have one request in flight), a second task for it gives its thread back at
    once, and the other partner's delivery goes out without waiting."""
    settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = 1
    slow, fast = Receiver(), Receiver()
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = [slow.host, fast.host]
    slow.default = Answer(200, delay=1.5)
    try:
        slow_endpoint, _ = subscribe(slow.url)
        fast_endpoint, _ = subscribe(fast.url)
        waiting = [make_delivery(slow_endpoint), make_delivery(slow_endpoint)]
        other = make_delivery(fast_endpoint)

        def deliver_in_thread():
            try:
                endpoint_deliver(endpoint_id=slow_endpoint.pk)
            finally:
                connection.close()

        worker = threading.Thread(target=deliver_in_thread)
        worker.start()
        slow.wait_for(1)
        started = time.monotonic()
        assert endpoint_deliver(endpoint_id=slow_endpoint.pk) == 0  # its one slot is taken
        assert endpoint_deliver(endpoint_id=fast_endpoint.pk) == 1
        assert time.monotonic() - started < 1
        assert worker.is_alive()  # still waiting on the slow receiver
        worker.join(timeout=10)

        assert Delivery.objects.get(pk=other.pk).status == "succeeded"
        assert {Delivery.objects.get(pk=d.pk).status for d in waiting} == {"succeeded"}
        assert len(slow.received) == 2  # the busy slot's task sent both, one at a time
    finally:
        slow.stop()
        fast.stop()


@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_for_one_endpoint_never_send_a_delivery_twice(receiver, settings):
    settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = 3
    # Only the three calls below may send. This module runs tasks eagerly, which would make a
    # follow-up kick a fourth, uncounted sender: here the real kick only queues its task
    # (the eager_tasks fixture restores the setting afterwards).
    celery_app.conf.task_always_eager = False
    endpoint, _secret = subscribe(receiver.url)
    deliveries = [make_delivery(endpoint, {"n": n}) for n in range(50)]
    sent = []

    def deliver():
        try:
            sent.append(endpoint_deliver(endpoint_id=endpoint.pk))
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert sum(sent) == 50
    ids = [request.headers["webhook-id"] for request in receiver.wait_for(50)]
    assert sorted(ids) == sorted(d.payload.public_id for d in deliveries)
    assert set(Delivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
