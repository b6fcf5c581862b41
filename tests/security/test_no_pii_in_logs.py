"""No customer PII in logs (issue 21 point 7; OWASP API3's exposure, seen from the logs).

A full journey runs with every logger at DEBUG: a partner links a customer, the customer
consents, the partner refers them, the webhook is delivered, the customer withdraws in the
portal and erases their account; a few refusals come on the way. No log record (message,
arguments, exception text) and no problem body may carry the customer's email, name or phone.
"""

from __future__ import annotations

import logging

from django.test import Client

from consent.models import Consent, Customer, PartnerLink
from consent.services.consents import consent_grant
from consent.services.links import customer_link_confirm
from ecosystem import http
from partners.models import Purpose
from partners.webhooks.delivery import endpoint_deliver
from partners.webhooks.models import Delivery, WebhookEndpoint
from tests.builders import make_api, make_partner, make_partnership

EMAIL, NAME, PHONE = "Grace.Hopper@mail.example", "Grace Hopper", "+44 7700 900461"
SECRETS = [EMAIL.lower(), "grace", "hopper", "7700 900461", "7700900461"]


def _texts(records: list[logging.LogRecord]) -> list[str]:
    texts = []
    for record in records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(repr(record.exc_info[1]))
        if record.exc_text:
            texts.append(record.exc_text)
    return texts


def test_a_full_journey_logs_no_customer_email_name_or_phone(db, public_dns, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    sent: list[bytes] = []

    def receiver(target, *, body, headers, timeout):  # the outbound HTTP seam
        sent.append(body)
        return http.HttpResult(200, "ok", 3)

    monkeypatch.setattr(http, "post", receiver)
    problems: list[str] = []
    gym, grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    make_partnership(gym, grocer, purpose="referral", categories=("contact.name", "contact.email"))
    gym_api, grocer_api = make_api(gym), make_api(grocer)
    hooked = grocer_api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://hooks.grocer.example/in", "event_types": ["referral.received"]},
        format="json",
    )
    assert hooked.status_code == 201

    # Link (and a refusal: the same email under another external ref).
    linked = gym_api.post(
        "/api/v1/customer-links",
        {"external_ref": "m-1", "email": EMAIL, "name": NAME, "phone": PHONE},
        format="json",
    )
    if linked.status_code == 400:  # no phone on the wire: link without it
        linked = gym_api.post(
            "/api/v1/customer-links",
            {"external_ref": "m-1", "email": EMAIL, "name": NAME},
            format="json",
        )
    assert linked.status_code == 201, linked.content
    again = gym_api.post(
        "/api/v1/customer-links",
        {"external_ref": "m-2", "email": EMAIL, "name": NAME},
        format="json",
    )
    problems.append(again.content.decode())
    link = PartnerLink.objects.get(pk=linked.json()["customer_id"])
    customer = link.customer
    customer_link_confirm(link=link, customer=customer)

    # Consent, referral (and a refused note that names the customer), delivery.
    consent = consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=gym.pk,
        recipient_id=grocer.pk,
        data_categories=["contact.email"],
    )
    body = {"customer_id": link.pk, "to_partner": grocer.pk}
    problems.append(
        gym_api.post(
            "/api/v1/referrals", {**body, "note": "Grace likes it"}, format="json"
        ).content.decode()
    )
    referred = gym_api.post("/api/v1/referrals", {**body, "note": "Keen cook"}, format="json")
    assert referred.status_code == 201, referred.content
    grocer_api.get(f"/api/v1/referrals/{referred.json()['id']}")
    for endpoint in WebhookEndpoint.objects.all():
        endpoint_deliver(endpoint_id=endpoint.pk)
    assert Delivery.objects.filter(status="succeeded").exists() or sent

    # The customer withdraws in the portal, then erases the account.
    portal = Client()
    customer.user.set_password("a-long-harbour-light-9")
    customer.user.save()
    portal.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")
    portal.post(f"/consents/{consent.pk}/withdraw/", {"confirm": "yes"})
    portal.post("/my-data/delete/", {"confirm": "yes", "password": "a-long-harbour-light-9"})
    problems.append(grocer_api.get(f"/api/v1/referrals/{referred.json()['id']}").content.decode())

    assert Consent.objects.get(pk=consent.pk).status in ("withdrawn", "terminated")
    assert Customer.objects.get(pk=customer.pk).status == "erased"
    assert len(caplog.records) > 0
    haystack = "\n".join(_texts(caplog.records) + problems).lower()
    leaked = [secret for secret in SECRETS if secret in haystack]
    assert leaked == [], leaked
