"""A write that committed answers success even when the broker is unreachable at commit time;
the outbox sweep delivers its webhooks once the broker is back."""

from __future__ import annotations

import socket

import pytest

from consent.models import Consent
from consent.services.consents import consent_grant
from ecosystem.celery import app as celery_app
from exchanges.referrals.models import Referral
from partners.models import Purpose
from partners.webhooks.models import Delivery
from partners.webhooks.tasks import webhook_sweep_task
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership
from tests.partners.webhooks.webhooks_support import subscribe


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed


def _reset_producer_pools() -> None:
    # Forget the pools bound to the old address (kombu keeps one per broker URL).
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Point Celery at a broker address where nothing listens: every publish is refused."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_transport_options
    _reset_producer_pools()
    conf.broker_url = f"redis://127.0.0.1:{_closed_port()}/0"
    conf.broker_transport_options = {}

    def restore() -> None:
        _reset_producer_pools()
        conf.broker_url, conf.broker_transport_options = saved

    yield restore
    restore()


@pytest.fixture
def referral_world(taxonomy, receiver):
    gym, grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    make_partnership(gym, grocer, purpose="referral", categories=("contact.email",))
    customer = make_customer()
    link = make_link(customer, gym)
    consent = consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=gym.pk,
        recipient_id=grocer.pk,
        data_categories=["contact.email"],
    )
    subscribe(receiver.url, grocer, event_types=["referral.received", "referral.withdrawn"])
    Delivery.objects.all().delete()
    return gym, grocer, customer, link, consent


@pytest.mark.django_db(transaction=True)
def test_a_referral_committed_while_the_broker_is_down_answers_201_and_is_delivered_later(
    referral_world, broker_down, receiver, eager_tasks
):
    gym, grocer, _customer, link, _consent = referral_world
    api = make_api(gym)
    celery_app.conf.task_always_eager = False  # the broker, not this process, runs tasks

    response = api.post(
        "/api/v1/referrals",
        {"customer_id": link.pk, "to_partner": grocer.pk, "note": "Keen cook"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Referral.objects.filter(pk=response.json()["id"]).exists()
    assert receiver.received == []
    [delivery] = Delivery.objects.all()
    assert delivery.status == "pending"

    broker_down()  # the broker is back; the sweep re-drives what the commit could not kick
    celery_app.conf.task_always_eager = True
    webhook_sweep_task()

    [request] = receiver.wait_for(1)
    assert request.headers["webhook-id"] == delivery.payload.public_id
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_committed_while_the_broker_is_down_answers_success_in_the_portal(
    referral_world, broker_down, receiver, client, eager_tasks
):
    gym, grocer, customer, link, consent = referral_world
    celery_app.conf.task_always_eager = False
    response = make_api(gym).post(
        "/api/v1/referrals", {"customer_id": link.pk, "to_partner": grocer.pk}, format="json"
    )
    assert response.status_code == 201
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.post(f"/consents/{consent.pk}/withdraw/")

    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.status == Consent.Status.WITHDRAWN
    assert Referral.objects.get().status == "withdrawn"
    assert receiver.received == []

    broker_down()
    celery_app.conf.task_always_eager = True
    webhook_sweep_task()

    received = receiver.wait_for(2)
    assert sorted(r.body.decode().split('"type":"')[1].split('"')[0] for r in received) == [
        "referral.received",
        "referral.withdrawn",
    ]
