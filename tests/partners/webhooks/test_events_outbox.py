"""The outbox: what event_publish writes, that a rolled-back event is never delivered, and
the sweep that re-drives deliveries whose task was lost."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from partners.webhooks.events import event_publish, events_purge
from partners.webhooks.models import Delivery, Event, EventPayload, WebhookEndpoint
from partners.webhooks.tasks import webhook_sweep_task
from tests.builders import make_partner
from tests.partners.webhooks.webhooks_support import make_delivery, make_due, subscribe


class Boom(Exception):
    pass


def test_publish_renders_each_partners_own_payload_and_delivers_to_its_subscribers(db, receiver):
    insurer, gym, bystander = make_partner(), make_partner(), make_partner()
    insurer_hook, _ = subscribe(receiver.url, insurer, event_types=["referral.received"])
    subscribe(receiver.url + "?other", insurer, event_types=["consent.granted"])
    gym_hook, _ = subscribe(receiver.url, gym, event_types=["referral.received", "reward.issued"])
    subscribe(receiver.url, bystander, event_types=["referral.received"])
    disabled, _ = subscribe(receiver.url, gym, event_types=["referral.received"], enabled=False)

    event = event_publish(
        type="referral.received",
        payloads={insurer.pk: {"customer_id": "cus_insurer"}, gym.pk: {"customer_id": "cus_gym"}},
    )

    assert event.pk.startswith("evt_") and event.type == "referral.received"
    bodies = {p.partner_id: json.loads(p.body) for p in EventPayload.objects.filter(event=event)}
    assert bodies[insurer.pk]["data"] == {"customer_id": "cus_insurer"}
    assert bodies[gym.pk]["data"] == {"customer_id": "cus_gym"}
    assert set(bodies) == {insurer.pk, gym.pk}
    deliveries = Delivery.objects.filter(event=event)
    assert {(d.endpoint_id, d.partner_id) for d in deliveries} == {
        (insurer_hook.pk, insurer.pk),
        (gym_hook.pk, gym.pk),
    }
    assert all(d.pk.startswith("dlv_") and d.status == "pending" for d in deliveries)
    assert all(d.payload.partner_id == d.partner_id for d in deliveries)
    assert not Delivery.objects.filter(endpoint=disabled).exists()


def test_an_unknown_event_type_is_a_programming_error(db):
    with pytest.raises(ValueError, match="Unknown event type"):
        event_publish(type="referral.teleported", payloads={})
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_an_event_published_in_a_transaction_that_rolls_back_is_never_delivered(receiver):
    partner = make_partner()
    subscribe(receiver.url, partner)

    with pytest.raises(Boom), transaction.atomic():
        event_publish(type="referral.received", payloads={partner.pk: {"referral_id": "ref_x"}})
        raise Boom
    webhook_sweep_task()

    assert not Event.objects.exists() and not Delivery.objects.exists()
    assert receiver.received == []

    # The same publish, committed, is delivered: the rollback above is what stopped it.
    with transaction.atomic():
        event = event_publish(
            type="referral.received", payloads={partner.pk: {"referral_id": "ref_y"}}
        )
    [request] = receiver.wait_for(1)
    assert request.headers["webhook-id"] == event.public_ids[partner.pk]


@pytest.mark.usefixtures("eager_tasks")
def test_the_sweep_delivers_an_event_whose_enqueue_was_lost(db, receiver, committed):
    partner = make_partner()
    subscribe(receiver.url, partner)
    # Inside the test's transaction the on-commit enqueue never runs: as if the broker was
    # down at commit time, or the process died between commit and enqueue.
    event = event_publish(type="referral.received", payloads={partner.pk: {"referral_id": "r"}})
    delivery = Delivery.objects.get()
    assert delivery.status == "pending" and receiver.received == []

    assert committed(webhook_sweep_task) == 1  # endpoints kicked

    [request] = receiver.wait_for(1)
    assert request.headers["webhook-id"] == event.public_ids[partner.pk]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)


@pytest.mark.usefixtures("eager_tasks")
def test_the_sweep_resends_deliveries_whose_worker_died_mid_request(db, receiver, committed):
    endpoint, _secret = subscribe(receiver.url)
    # Claimed by a worker that was killed before recording a result; its lease has run out.
    lost = make_delivery(endpoint, status="sending")
    make_due(lost)

    assert committed(webhook_sweep_task) == 1

    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("succeeded", 1)
    assert list(lost.attempt_log.values_list("number", "status_code")) == [(1, 200)]
    assert receiver.wait_for(1)[0].headers["webhook-id"] == lost.payload.public_id


@pytest.mark.usefixtures("eager_tasks")
def test_the_sweep_leaves_claimed_and_scheduled_deliveries_alone(db, receiver, committed):
    endpoint, _secret = subscribe(receiver.url)
    in_hands = make_delivery(
        endpoint,
        status="sending",
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )
    later = make_delivery(
        endpoint, attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=300)
    )
    done = make_delivery(endpoint, status="succeeded", attempts=1, next_attempt_at=None)

    assert committed(webhook_sweep_task) == 0

    assert receiver.received == []
    assert [Delivery.objects.get(pk=d.pk).status for d in (in_hands, later, done)] == [
        "sending",
        "pending",
        "succeeded",
    ]


def test_purge_removes_old_finished_events_and_keeps_recent_or_open_ones(db, receiver, settings):
    settings.WEBHOOK_EVENT_RETENTION_DAYS = 30
    endpoint, _secret = subscribe(receiver.url)
    old_done = make_delivery(endpoint, status="succeeded", next_attempt_at=None)
    old_open = make_delivery(endpoint)
    recent = make_delivery(endpoint, status="failed", next_attempt_at=None)
    long_ago = timezone.now() - timedelta(days=31)
    Event.objects.filter(pk__in=[old_done.event_id, old_open.event_id]).update(created_at=long_ago)

    assert events_purge() == 1

    assert set(Event.objects.values_list("pk", flat=True)) == {old_open.event_id, recent.event_id}
    assert not Delivery.objects.filter(pk=old_done.pk).exists()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
