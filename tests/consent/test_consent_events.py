"""Consent and link events through the outbox: who hears of what, under which id."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from consent.models import Consent, ConsentEvent, PartnerLink
from consent.selectors import consent_check, notification_states
from consent.services.consents import (
    consent_grant,
    consent_request_create,
    consent_request_refuse,
    consent_withdraw,
)
from consent.services.erasure import customer_erase
from consent.services.links import customer_link_confirm, customer_link_refuse
from partners.models import Purpose
from partners.webhooks.models import Delivery, EventPayload
from tests.builders import make_link, make_partner
from tests.partners.webhooks.webhooks_support import subscribe

ALL_CONSENT_EVENTS = (
    "consent.granted",
    "consent.refused",
    "consent.withdrawn",
    "consent.terminated",
    "customer.erased",
)


def payloads(event_type: str) -> dict[str, dict]:
    """Partner id → the data that partner was sent, for the newest event of this type."""
    rows = EventPayload.objects.filter(event__type=event_type).order_by("-event__created_at")
    newest = rows.first()
    if newest is None:
        return {}
    return {
        row.partner_id: json.loads(row.body)["data"]
        for row in rows.filter(event_id=newest.event_id)
    }


def grant(flow):
    return consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=["activity.visits"],
    )


def test_a_grant_tells_both_partners_each_under_its_own_pairwise_id(flow):
    consent = grant(flow)

    sent = payloads("consent.granted")

    assert set(sent) == {flow.source.pk, flow.recipient.pk}
    assert sent[flow.source.pk]["customer_id"] == flow.source_link.pk
    assert sent[flow.recipient.pk]["customer_id"] == flow.recipient_link.pk
    assert flow.recipient_link.pk not in json.dumps(sent[flow.source.pk])
    assert flow.source_link.pk not in json.dumps(sent[flow.recipient.pk])
    assert flow.customer.pk not in json.dumps(sent)
    assert sent[flow.source.pk]["consent_id"] == consent.pk
    assert sent[flow.source.pk]["data_categories"] == ["activity.visits"]


def test_a_partner_without_a_link_to_the_customer_hears_nothing(flow):
    PartnerLink.objects.filter(pk=flow.recipient_link.pk).update(status="pending")

    grant(flow)

    assert set(payloads("consent.granted")) == {flow.source.pk}


def test_a_refusal_is_told_only_to_the_partner_that_asked(flow):
    consent = consent_request_create(
        partner_id=flow.source.pk,
        client_id="cli_x",
        customer_id=flow.source_link.pk,
        recipient_id=flow.recipient.pk,
        purpose_code="rewards",
        data_categories=["activity.visits"],
        message="Please",
    )

    consent_request_refuse(consent=consent, customer=flow.customer)

    assert set(payloads("consent.refused")) == {flow.source.pk}


def test_link_answers_are_told_to_that_partner_only(db):
    from tests.builders import make_customer

    customer = make_customer()
    gym, grocer = make_partner(), make_partner()
    yes = make_link(customer, gym, status="pending")
    no = make_link(customer, grocer, status="pending")

    customer_link_confirm(link=yes, customer=customer)
    customer_link_refuse(link=no, customer=customer)

    assert payloads("customer.link_confirmed") == {
        gym.pk: {"customer_id": yes.pk, "external_ref": yes.external_ref, "status": "active"}
    }
    assert payloads("customer.link_refused") == {
        grocer.pk: {"customer_id": no.pk, "external_ref": no.external_ref, "status": "refused"}
    }


def test_erasure_tells_every_partner_that_knew_the_customer(flow):
    pending_partner = make_partner()
    pending = make_link(flow.customer, pending_partner, status="pending")
    grant(flow)

    told = customer_erase(customer=flow.customer)

    assert set(told) == {flow.source.pk, flow.recipient.pk, pending_partner.pk}
    sent = payloads("customer.erased")
    assert sent == {
        flow.source.pk: {"customer_id": flow.source_link.pk},
        flow.recipient.pk: {"customer_id": flow.recipient_link.pk},
        pending_partner.pk: {"customer_id": pending.pk},
    }
    assert set(Consent.objects.values_list("status", flat=True)) == {"withdrawn"}
    assert set(PartnerLink.objects.values_list("status", flat=True)) == {"ended"}


def test_each_withdrawal_records_whether_each_partner_was_told(flow, settings):
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["127.0.0.1:9"]
    subscribe("http://127.0.0.1:9/hooks", partner=flow.recipient, event_types=ALL_CONSENT_EVENTS)
    consent = grant(flow)

    event = consent_withdraw(consent=consent, customer=flow.customer)

    def states():
        return dict(notification_states([event.pk])[event.pk])

    assert states() == {flow.source.pk: "not_subscribed", flow.recipient.pk: "pending"}
    delivery = Delivery.objects.get(event__type="consent.withdrawn")
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1, last_error="connection refused")
    assert states()[flow.recipient.pk] == "failing"
    Delivery.objects.filter(pk=delivery.pk).update(status="succeeded")
    assert states()[flow.recipient.pk] == "delivered"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_a_withdrawal_reaches_the_partner_signed_and_its_next_check_fails(
    flow, receiver, eager_tasks, django_capture_on_commit_callbacks
):
    _endpoint, secret = subscribe(
        receiver.url, partner=flow.recipient, event_types=["consent.withdrawn"]
    )
    consent = grant(flow)

    with django_capture_on_commit_callbacks(execute=True):
        event = consent_withdraw(consent=consent, customer=flow.customer)

    (received,) = receiver.wait_for(1)
    body = Webhook(secret).verify(received.body, received.headers)
    assert body["type"] == "consent.withdrawn"
    assert body["data"]["customer_id"] == flow.recipient_link.pk
    assert body["data"]["consent_id"] == consent.pk
    assert dict(notification_states([event.pk])[event.pk])[flow.recipient.pk] == "delivered"
    assert (
        consent_check(
            customer_id=flow.customer.pk,
            source_id=flow.source.pk,
            recipient_id=flow.recipient.pk,
            purpose="rewards",
            categories=["activity.visits"],
            at=timezone.now(),
        )
        is None
    )
    assert ConsentEvent.objects.filter(consent=consent, to_status="withdrawn").count() == 1


def test_expiry_lapse_and_termination_are_told_to_the_partners_entitled(flow):
    from datetime import timedelta

    from consent.services.consents import consent_requests_lapse, consents_expire
    from partners.services.partnerships import partnership_end

    expiring = grant(flow)
    Consent.objects.filter(pk=expiring.pk).update(
        granted_at=timezone.now() - timedelta(days=2), expires_at=timezone.now()
    )
    asked = consent_request_create(
        partner_id=flow.source.pk,
        client_id="cli_x",
        customer_id=flow.source_link.pk,
        recipient_id=None,
        purpose_code="offers",
        data_categories=[],
        message="Offers?",
    )
    Consent.objects.filter(pk=asked.pk).update(lapses_at=timezone.now())

    consents_expire()
    consent_requests_lapse()
    terminated = grant(flow)
    partnership_end(partnership=flow.partnership, actor=None)

    assert set(payloads("consent.expired")) == {flow.source.pk, flow.recipient.pk}
    lapsed = payloads("consent.lapsed")
    assert set(lapsed) == {flow.source.pk}
    assert (lapsed[flow.source.pk]["consent_id"], lapsed[flow.source.pk]["customer_id"]) == (
        asked.pk,
        flow.source_link.pk,
    )
    assert lapsed[flow.source.pk]["status"] == "lapsed"
    ended = payloads("consent.terminated")
    assert set(ended) == {flow.source.pk, flow.recipient.pk}
    assert ended[flow.recipient.pk]["consent_id"] == terminated.pk
    assert ended[flow.recipient.pk]["customer_id"] == flow.recipient_link.pk
    assert "partnership" in ended[flow.recipient.pk]["reason"]
