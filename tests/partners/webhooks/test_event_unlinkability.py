"""Partners told of the same event cannot link what they were told: each gets its own event
id (the ``webhook-id``) and its own customer id, and nothing else two of them receive is the
same, apart from the objects they already share (a referral or consent between them).

Every fan-out event type the code emits is driven through the real services, delivered to a
real HTTP receiver, and compared partner by partner."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import Consent
from consent.services.consents import consent_grant, consent_withdraw, consents_expire
from consent.services.erasure import customer_erase
from exchanges.referrals.models import Referral
from exchanges.referrals.services import referrals_expire
from partners.models import Purpose
from partners.services.partnerships import partnership_end
from partners.webhooks.models import SUBSCRIBABLE_EVENT_TYPES, Delivery, EventPayload
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership
from tests.partners.webhooks.webhooks_support import subscribe

pytestmark = [pytest.mark.usefixtures("eager_tasks")]

# Values of these keys name objects both partners already hold (the referral or consent
# between them, the two brands, its purpose, categories, state and dates): they may match.
SHARED_OBJECT_KEYS = {
    "type",
    "timestamp",  # when it happened, in whole seconds (docs/webhooks.md says why)
    "referral_id",
    "consent_id",
    "from_partner",
    "to_partner",
    "source",
    "recipient",
    "purpose",
    "data_categories",
    "status",
    "reason",
    "granted_at",
    "expires_at",
}
# Transport headers the same for every request (or, for the timestamp, the second it was
# signed in): no identifier.
TRANSPORT_HEADERS = {
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "content-type",
    "content-length",
    "webhook-timestamp",
}
FAN_OUT_TYPES = {
    "customer.erased",
    "consent.granted",
    "consent.withdrawn",
    "consent.expired",
    "consent.terminated",
    "referral.expired",
}


def leaves(value, key=""):
    """(key, value) for every scalar in a JSON document, list items under their list's key."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, key)
    else:
        yield key, value


def told(request) -> set[str]:
    """Every value one partner was told that could identify, in the body or the headers:
    all of them but the shared objects' and the transport's."""
    document = json.loads(request.body)
    values = {json.dumps(v) for key, v in leaves(document) if key not in SHARED_OBJECT_KEYS}
    for name, value in request.headers.items():
        if name not in TRANSPORT_HEADERS:
            values.add(value)
    return values


def test_no_two_partners_share_an_identifier_for_one_event(
    db, receiver, django_capture_on_commit_callbacks
):
    gym, grocer, insurer, bank = (make_partner() for _ in range(4))
    referrals = make_partnership(
        gym, grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    make_partnership(gym, insurer)
    make_partnership(gym, bank)
    for partner in (gym, grocer, insurer, bank):  # each at its own URL: /hook?<partner id>
        subscribe(f"{receiver.url}?{partner.pk}", partner, event_types=SUBSCRIBABLE_EVENT_TYPES)
    customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    gym_link = make_link(customer, gym)
    for partner in (grocer, insurer, bank):
        make_link(customer, partner)

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    def grant(recipient, purpose, categories):
        return run(
            consent_grant,
            customer=customer,
            purpose=Purpose.objects.get(pk=purpose),
            source_id=gym.pk,
            recipient_id=recipient.pk,
            data_categories=categories,
        )

    # consent.granted (both parties), a referral that expires (referral.received, then
    # referral.expired to both), consent.withdrawn, consent.expired, consent.terminated (both),
    # and customer.erased to all four partners.
    referral_consent = grant(grocer, "referral", ["contact.email"])
    with django_capture_on_commit_callbacks(execute=True):
        sent = make_api(gym).post(
            "/api/v1/referrals",
            {"customer_id": gym_link.pk, "to_partner": grocer.pk, "note": "Keen cook"},
            format="json",
        )
    assert sent.status_code == 201
    Referral.objects.filter(pk=sent.json()["id"]).update(expires_at=timezone.now())
    assert run(referrals_expire) == 1
    run(consent_withdraw, consent=grant(insurer, "rewards", ["activity.visits"]), customer=customer)
    expiring = grant(bank, "rewards", ["activity.visits"])
    now = timezone.now()
    Consent.objects.filter(pk=expiring.pk).update(
        granted_at=now - timedelta(days=2), expires_at=now - timedelta(seconds=1)
    )
    assert run(consents_expire) == 1
    run(partnership_end, partnership=referrals, actor=None)
    assert Consent.objects.get(pk=referral_consent.pk).status == "terminated"
    run(customer_erase, customer=customer)

    # Group what arrived by event: the receiver saw each partner's own webhook-id only.
    payloads = {p.public_id: p for p in EventPayload.objects.select_related("event")}
    requests = receiver.wait_for(Delivery.objects.count())
    assert not Delivery.objects.exclude(status="succeeded").exists()
    by_event = defaultdict(dict)
    for request in requests:
        payload = payloads[request.headers["webhook-id"]]
        partner_id = request.path.split("?", 1)[1]
        assert payload.partner_id == partner_id  # each partner got its own payload
        by_event[payload.event][partner_id] = request

    fanned_out = {event.type for event, got in by_event.items() if len(got) > 1}
    assert fanned_out == FAN_OUT_TYPES
    erased = [got for event, got in by_event.items() if event.type == "customer.erased"]
    assert [len(got) for got in erased] == [4]
    for event, got in by_event.items():
        for (p, first), (q, second) in itertools.combinations(got.items(), 2):
            assert told(first) & told(second) == set(), (event.type, p, q)
            assert first.headers["webhook-id"] != second.headers["webhook-id"]
            assert first.headers["webhook-id"] != event.pk  # the internal id is never told
            assert json.loads(first.body)["timestamp"].endswith(".000000Z")  # whole seconds


def test_each_partner_reconciles_an_event_under_its_own_id(db, django_capture_on_commit_callbacks):
    from partners.webhooks.events import event_publish

    gym, grocer = make_partner(), make_partner()
    event = event_publish(
        type="customer.erased",
        payloads={gym.pk: {"customer_id": "cus_g"}, grocer.pk: {"customer_id": "cus_f"}},
    )

    logs = {p.pk: make_api(p).get("/api/v1/events").json()["results"] for p in (gym, grocer)}

    ids = {pid: [e["id"] for e in results] for pid, results in logs.items()}
    assert ids == {gym.pk: [event.public_ids[gym.pk]], grocer.pk: [event.public_ids[grocer.pk]]}
    assert len({event.pk, *event.public_ids.values()}) == 3
    assert all(i.startswith("evt_") for i in event.public_ids.values())


def test_the_delivery_log_names_each_partners_own_event_id_in_whole_seconds(
    db, receiver, django_capture_on_commit_callbacks
):
    from partners.webhooks.events import event_publish

    gym, grocer = make_partner(), make_partner()
    for partner in (gym, grocer):
        subscribe(receiver.url, partner, event_types=["customer.erased"])
    with django_capture_on_commit_callbacks(execute=True):
        event = event_publish(
            type="customer.erased",
            payloads={gym.pk: {"customer_id": "cus_g"}, grocer.pk: {"customer_id": "cus_f"}},
        )
    receiver.wait_for(2)

    rows = {
        p.pk: make_api(p).get("/api/v1/webhook-deliveries").json()["results"] for p in (gym, grocer)
    }

    (gym_row,), (grocer_row,) = rows[gym.pk], rows[grocer.pk]
    assert gym_row["event_id"] == event.public_ids[gym.pk]
    assert grocer_row["event_id"] == event.public_ids[grocer.pk]
    for row in (gym_row, grocer_row):
        assert row["status"] == "succeeded"
        for name in ("created_at", "last_attempt_at"):
            assert "." not in row[name], (name, row[name])  # whole seconds
    shared = {k for k in gym_row if gym_row[k] == grocer_row[k]}
    assert shared <= {
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
        "last_attempt_at",
    }
    assert {"id", "endpoint_id", "event_id"}.isdisjoint(shared)
