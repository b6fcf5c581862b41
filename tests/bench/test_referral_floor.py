"""The benchmark's raw-SQL floor writes what a referral create writes, readable the same way:
otherwise the create ÷ floor ratio would compare different work."""

from __future__ import annotations

import json

import pytest

from consent.models import Customer, PartnerLink
from consent.services.consents import consent_grant
from ecosystem import crypto
from ecosystem.models import AuditEntry, IdempotencyRecord
from exchanges.referrals.models import Referral
from partners.models import Purpose
from partners.webhooks.models import Delivery, EventPayload
from partners.webhooks.services import webhook_endpoint_create
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

pytestmark = pytest.mark.urls("tests.bench.urls")


@pytest.fixture
def pair(db, postgresql, settings):
    """A gym that may refer two customers to a grocer (name and email; the consents allow
    the email), and a grocer endpoint subscribed to referral.received."""
    gym, grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    make_partnership(gym, grocer, purpose="referral", categories=("contact.name", "contact.email"))
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["127.0.0.1:9"]  # never called: no commit
    webhook_endpoint_create(
        partner_id=grocer.pk,
        url="http://127.0.0.1:9/in",
        event_types=["referral.received"],
        actor=None,
    )
    links = []
    for n in (1, 2):
        customer = make_customer(email=f"ada{n}@mail.example", name=f"Ada {n}")
        links.append(make_link(customer, gym))
        consent_grant(
            customer=customer,
            purpose=Purpose.objects.get(pk="referral"),
            source_id=gym.pk,
            recipient_id=grocer.pk,
            data_categories=["contact.email"],
        )
    return make_api(gym), grocer, links


def _post(api, path, link, grocer, key):
    body = {"customer_id": link.pk, "to_partner": grocer.pk}
    return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _written(referral: Referral) -> dict:
    customer = Customer.objects.select_related("key").get(pk=referral.customer_id)
    link = PartnerLink.objects.get(customer=customer, partner_id=referral.to_partner_id)
    payload = EventPayload.objects.get(
        event__type="referral.received",
        partner_id=referral.to_partner_id,
        body__contains=referral.pk,
    )
    data = json.loads(payload.body)["data"]
    return {
        "snapshot": referral.open_snapshot(data_key=customer.data_key()),
        "categories": referral.snapshot_categories,
        "status": referral.status,
        "link": (link.status, link.method),
        "payload customer": data["customer_id"] == link.pk,
        "deliveries": Delivery.objects.filter(payload=payload).count(),
        "audit": AuditEntry.objects.filter(action="referral.create", object_id=referral.pk).count(),
    }


def test_the_floor_writes_the_rows_of_a_create(pair):
    api, grocer, (first, second) = pair
    created = _post(api, "/api/v1/referrals", first, grocer, "create-1")
    floored = _post(api, "/bench/referral-floor", second, grocer, "floor-1")
    assert created.status_code == floored.status_code == 201, floored.content
    assert floored.json().keys() == created.json().keys()
    assert floored.json()["data_categories"] == created.json()["data_categories"]
    by_create, by_floor = (Referral.objects.get(pk=r.json()["id"]) for r in (created, floored))
    written = _written(by_floor)
    assert written.pop("snapshot") == {"contact.email": "ada2@mail.example"}
    assert _written(by_create).pop("snapshot") == {"contact.email": "ada1@mail.example"}
    assert written == {k: v for k, v in _written(by_create).items() if k != "snapshot"}
    assert written["deliveries"] == written["audit"] == 1
    record = IdempotencyRecord.objects.get(key="floor-1")
    sealed = bytes(record.response_body).decode()
    aad = crypto.associated_data(record._meta.db_table, "response_body", record.pk)
    assert json.loads(crypto.decrypt(sealed, aad=aad)) == floored.json()
    assert record.state == IdempotencyRecord.State.COMPLETED


def test_the_floor_finds_nothing_for_another_partners_customer(pair):
    _api, grocer, (first, _second) = pair
    stranger = make_api(make_partner(name="Harbor Mutual"))
    response = _post(stranger, "/bench/referral-floor", first, grocer, "floor-2")
    assert response.status_code == 404
    assert not Referral.objects.exists()
