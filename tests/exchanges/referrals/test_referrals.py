"""Consented referrals between brands: gates, minimisation, state machine, isolation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework import serializers

from consent.models import AccessEvent, Consent, PartnerLink
from consent.services.consents import consent_grant, consent_withdraw
from consent.services.links import customer_link_refuse
from exchanges.referrals.api.serializers import ReferralOutput
from exchanges.referrals.models import Referral
from exchanges.referrals.services import referrals_expire
from partners.models import Partner, Purpose
from partners.webhooks.models import EventPayload
from tests.builders import (
    make_api,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
)

REFERRALS = "/api/v1/referrals"


@pytest.fixture
def ref(db):
    """A gym (A) that may refer to a grocer (B) with name and email; a third brand (C); a
    customer linked to A and C who consented to A introducing them to B with their email."""

    class Ref:
        pass

    r = Ref()
    r.gym = make_partner(name="Pulse Fitness")
    r.grocer = make_partner(name="Fresh Basket")
    r.third = make_partner(name="Harbor Mutual")
    r.partnership = make_partnership(
        r.gym, r.grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    r.customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    r.gym_link = make_link(r.customer, r.gym)
    r.third_link = make_link(r.customer, r.third)
    r.consent = consent_grant(
        customer=r.customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=r.gym.pk,
        recipient_id=r.grocer.pk,
        data_categories=["contact.email"],
    )
    r.gym_api, r.grocer_api, r.third_api = (make_api(p) for p in (r.gym, r.grocer, r.third))
    return r


def send(r, **fields):
    body = {"customer_id": r.gym_link.pk, "to_partner": r.grocer.pk, "note": "Keen cook", **fields}
    return r.gym_api.post(REFERRALS, body, format="json")


def act(api, referral_id, action, body=None):
    return api.post(f"{REFERRALS}/{referral_id}/{action}", body or {}, format="json")


def payloads(event_type):
    return {
        row.partner_id: json.loads(row.body)["data"]
        for row in EventPayload.objects.filter(event__type=event_type)
    }


# --- sending ---------------------------------------------------------------------------------


def test_a_consented_referral_is_sent_and_the_recipient_sees_only_its_own_id(ref):
    response = send(ref)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("ref_")
    assert (body["direction"], body["status"], body["customer_id"]) == (
        "outbound",
        "sent",
        ref.gym_link.pk,
    )
    assert body["data"] is None  # the sender never reads the snapshot back
    assert body["note"] == "Keen cook"  # but sees its own note
    assert "Keen cook" not in Referral.objects.get().note_sealed  # sealed like the snapshot
    grocer_link = PartnerLink.objects.get(customer=ref.customer, partner=ref.grocer)
    assert (grocer_link.status, grocer_link.method) == ("active", "referral")
    received = payloads("referral.received")
    assert received == {
        ref.grocer.pk: {
            "referral_id": body["id"],
            "customer_id": grocer_link.pk,
            "from_partner": ref.gym.pk,
            "to_partner": ref.grocer.pk,
            "status": "sent",
            "reason": "",
        }
    }


def test_the_recipient_reads_exactly_the_consented_data_and_each_read_is_logged(ref):
    referral_id = send(ref).json()["id"]
    grocer_link = PartnerLink.objects.get(customer=ref.customer, partner=ref.grocer)

    body = ref.grocer_api.get(f"{REFERRALS}/{referral_id}").json()

    assert body["direction"] == "inbound"
    assert body["customer_id"] == grocer_link.pk
    assert body["data"] == {"contact.email": "ada@mail.example"}  # not the name: not consented
    assert body["data_categories"] == ["contact.email"]
    assert body["note"] == "Keen cook"
    assert ref.gym_link.pk not in json.dumps(body) and ref.third_link.pk not in json.dumps(body)
    (access,) = AccessEvent.objects.filter(purpose="referral")
    assert (access.partner_id, access.consent_id, access.fields) == (
        ref.grocer.pk,
        ref.consent.pk,
        ["contact.email", "referral.note"],
    )


def test_extra_fields_sent_by_the_referrer_never_reach_the_recipient(ref):
    referral_id = send(ref, phone="+44 7700 900000", name="Someone Else", data={"x": 1}).json()[
        "id"
    ]

    body = ref.grocer_api.get(f"{REFERRALS}/{referral_id}").json()

    assert body["data"] == {"contact.email": "ada@mail.example"}
    assert "Someone Else" not in json.dumps(body) and "7700" not in json.dumps(body)


@pytest.mark.parametrize(
    ("note", "gives_away"),
    [
        ("Ada asked about meal plans.", "contact.name"),
        ("LOVELACE wants a loyalty card", "contact.name"),
        ("Call +44 7700 900123 after six", "contact.phone"),
    ],
)
def test_a_note_that_gives_away_withheld_contact_data_is_refused(ref, note, gives_away):
    ref.customer.seal_pii(
        name="Ada Lovelace",
        email="ada@mail.example",
        phone="+44 7700 900123",
        data_key=ref.customer.data_key(),
    )
    ref.customer.save()
    events = EventPayload.objects.count()

    response = send(ref, note=note)

    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "note_reveals_customer_data"
    assert gives_away in problem["detail"] and "Ada" not in problem["detail"]
    assert not Referral.objects.exists() and EventPayload.objects.count() == events


def test_a_note_may_repeat_what_the_consent_shares(ref):
    # The consent shares the email address; ordinary words that are not the name pass too.
    response = send(ref, note="Reach them at ada@mail.example; keen on adaptive training")

    assert response.status_code == 201, response.json()


def test_without_consent_the_refusal_says_how_to_ask(ref):
    consent_withdraw(consent=ref.consent, customer=ref.customer)

    response = send(ref)

    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "consent_required"
    assert problem["consent_request"]["path"] == "/api/v1/consent-requests"
    assert problem["consent_request"]["body"]["purpose"] == "referral"
    assert not Referral.objects.exists()

    # The hint is a request the sender can post as it stands.
    hint = problem["consent_request"]
    asked = ref.gym_api.post(hint["path"], hint["body"], format="json")
    assert asked.status_code == 201, asked.json()
    assert hint["body"]["message"] == "Pulse Fitness would like to introduce you to Fresh Basket."


def test_an_expired_consent_is_refused_at_read_time(ref):
    Consent.objects.filter(pk=ref.consent.pk).update(
        granted_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert send(ref).json()["code"] == "consent_required"


@pytest.mark.parametrize(
    ("change", "code", "status"),
    [
        ("no_partnership", "partnership_required", 403),
        ("recipient_suspended", "recipient_inactive", 403),
        ("to_self", "referral_self", 400),
        ("unknown_customer", "not_found", 404),
        ("another_partners_customer", "not_found", 404),
    ],
)
def test_referrals_outside_the_rules_are_refused(ref, change, code, status):
    fields = {}
    if change == "no_partnership":
        ref.partnership.flows.all().delete()
    elif change == "recipient_suspended":
        Partner.objects.filter(pk=ref.grocer.pk).update(status="suspended")
    elif change == "to_self":
        fields["to_partner"] = ref.gym.pk
    elif change == "unknown_customer":
        fields["customer_id"] = "cus_nobody"
    else:
        fields["customer_id"] = ref.third_link.pk

    response = send(ref, **fields)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Referral.objects.exists()


def test_a_duplicate_open_referral_is_refused(ref):
    send(ref)

    response = send(ref)

    assert (response.status_code, response.json()["code"]) == (409, "duplicate_referral")


def test_referrals_per_customer_are_capped(ref, settings):
    settings.REFERRAL_LIMIT_PER_CUSTOMER = 2
    for _ in range(2):
        referral_id = send(ref).json()["id"]
        act(ref.gym_api, referral_id, "withdraw")

    response = send(ref)

    assert (response.status_code, response.json()["code"]) == (429, "referral_limit_reached")
    assert "Retry-After" in response


# --- the state machine ----------------------------------------------------------------------


def test_the_recipient_accepts_and_converts_with_a_value(ref):
    referral_id = send(ref).json()["id"]

    accepted = act(ref.grocer_api, referral_id, "accept")
    converted = act(
        ref.grocer_api,
        referral_id,
        "convert",
        {"value": {"amount": "12.50", "currency": "EUR"}},
    )

    assert accepted.json()["status"] == "accepted"
    assert converted.json()["status"] == "converted"
    assert converted.json()["value"] == {"amount": "12.50", "currency": "EUR"}
    assert set(payloads("referral.accepted")) == {ref.gym.pk}
    assert payloads("referral.converted")[ref.gym.pk]["customer_id"] == ref.gym_link.pk


@pytest.mark.parametrize(
    "value",
    [
        {"amount": 12.5, "currency": "EUR"},
        {"amount": "12.505", "currency": "EUR"},
        {"amount": "-1", "currency": "EUR"},
        {"amount": "12.50", "currency": "EURO"},
        {"amount": "12.50", "currency": "XYZ"},
        {"amount": "abc", "currency": "EUR"},
        # Decimal reads these, the schema's pattern does not: refused, as documented.
        {"amount": "1e2", "currency": "EUR"},
        {"amount": "1_000", "currency": "EUR"},
        {"amount": "\u0661\u0662", "currency": "EUR"},
        {"amount": "12345678901", "currency": "EUR"},
    ],
)
def test_a_conversion_value_must_be_a_decimal_string_and_an_iso_4217_code(ref, value):
    referral_id = send(ref).json()["id"]
    act(ref.grocer_api, referral_id, "accept")

    response = act(ref.grocer_api, referral_id, "convert", {"value": value})

    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert Referral.objects.get(pk=referral_id).status == "accepted"


# (who acts, action, from status) → allowed?
MATRIX = [
    ("grocer", "accept", "sent", 200),
    ("gym", "accept", "sent", 403),
    ("grocer", "decline", "sent", 200),
    ("gym", "decline", "sent", 403),
    ("grocer", "convert", "sent", 409),
    ("grocer", "convert", "accepted", 200),
    ("gym", "convert", "accepted", 403),
    ("gym", "withdraw", "sent", 200),
    ("gym", "withdraw", "accepted", 200),
    ("grocer", "withdraw", "sent", 403),
    ("grocer", "accept", "accepted", 409),
    ("grocer", "decline", "accepted", 409),
    ("gym", "withdraw", "declined", 409),
    ("grocer", "accept", "declined", 409),
    ("gym", "withdraw", "converted", 409),
    ("grocer", "accept", "withdrawn", 409),
    ("grocer", "convert", "expired", 409),
]


@pytest.mark.parametrize(("who", "action", "state", "expected"), MATRIX)
def test_every_transition_by_each_party(ref, who, action, state, expected):
    referral_id = send(ref).json()["id"]
    steps = {
        "accepted": [("grocer", "accept")],
        "declined": [("grocer", "decline")],
        "converted": [("grocer", "accept"), ("grocer", "convert")],
        "withdrawn": [("gym", "withdraw")],
    }
    for actor, step in steps.get(state, []):
        assert act(getattr(ref, f"{actor}_api"), referral_id, step).status_code == 200
    if state == "expired":
        Referral.objects.filter(pk=referral_id).update(expires_at=timezone.now())
        assert referrals_expire() == 1

    response = act(getattr(ref, f"{who}_api"), referral_id, action)

    assert response.status_code == expected, response.json()
    if expected != 200:
        assert Referral.objects.get(pk=referral_id).status == state
        assert response.json()["code"] in {"invalid_party", "invalid_transition"}


def test_a_decline_is_kept_with_when_and_why(ref):
    referral_id = send(ref).json()["id"]

    act(ref.grocer_api, referral_id, "decline", {"reason": "Outside our area"})

    referral = Referral.objects.get(pk=referral_id)
    assert referral.answered_at is not None and referral.ended_at is not None
    assert (referral.reason, referral.snapshot_sealed, referral.note_sealed) == (
        "Outside our area",
        "",
        "",
    )


@pytest.mark.parametrize(
    ("steps", "action", "detail"),
    [
        (["accept", "convert"], "convert", "A referral that is converted cannot be converted."),
        (["decline"], "accept", "A referral that is declined cannot be accepted."),
        (["decline"], "withdraw", "A referral that is declined cannot be withdrawn."),
        (["accept"], "decline", "A referral that is accepted cannot be declined."),
    ],
)
def test_a_refused_transition_says_why_in_plain_words(ref, steps, action, detail):
    referral_id = send(ref).json()["id"]
    for step in steps:
        act(ref.grocer_api, referral_id, step)
    api = ref.gym_api if action == "withdraw" else ref.grocer_api

    response = act(api, referral_id, action)

    assert (response.status_code, response.json()["detail"]) == (409, detail)


def test_a_link_the_customer_refused_after_consenting_is_not_switched_back_on(ref):
    refused = make_link(ref.customer, ref.grocer, status="pending")
    customer_link_refuse(link=refused, customer=ref.customer)

    response = send(ref)

    assert response.status_code == 403
    assert response.json()["code"] == "consent_required"
    assert PartnerLink.objects.get(pk=refused.pk).status == "refused"
    assert not Referral.objects.exists()

    # Asked again, the customer's newer consent is their latest word: the referral goes.
    consent_withdraw(consent=ref.consent, customer=ref.customer)
    consent_grant(
        customer=ref.customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=ref.gym.pk,
        recipient_id=ref.grocer.pk,
        data_categories=["contact.email"],
    )
    assert send(ref).status_code == 201
    assert PartnerLink.objects.get(pk=refused.pk).status == "active"


def test_a_pending_invitation_is_confirmed_by_the_referral_consent(ref):
    pending = make_link(ref.customer, ref.grocer, status="pending")

    assert send(ref).status_code == 201
    assert PartnerLink.objects.get(pk=pending.pk).status == "active"


def test_expiry_tells_both_partners_and_drops_the_snapshot(ref):
    referral_id = send(ref).json()["id"]
    Referral.objects.filter(pk=referral_id).update(expires_at=timezone.now())

    assert referrals_expire() == 1

    referral = Referral.objects.get(pk=referral_id)
    assert (referral.status, referral.snapshot_sealed) == ("expired", "")
    assert set(payloads("referral.expired")) == {ref.gym.pk, ref.grocer.pk}
    grocer_link = PartnerLink.objects.get(customer=ref.customer, partner=ref.grocer)
    assert {p: d["customer_id"] for p, d in payloads("referral.expired").items()} == {
        ref.gym.pk: ref.gym_link.pk,
        ref.grocer.pk: grocer_link.pk,
    }


def test_withdrawing_the_consent_mid_flight_withdraws_the_referral_and_its_data(ref):
    referral_id = send(ref).json()["id"]
    act(ref.grocer_api, referral_id, "accept")

    consent_withdraw(consent=ref.consent, customer=ref.customer)

    referral = Referral.objects.get(pk=referral_id)
    assert (referral.status, referral.snapshot_sealed, referral.note_sealed) == (
        "withdrawn",
        "",
        "",
    )
    body = ref.grocer_api.get(f"{REFERRALS}/{referral_id}").json()
    assert body["status"] == "withdrawn" and body["data"] is None and body["note"] is None
    assert ref.gym_api.get(f"{REFERRALS}/{referral_id}").json()["note"] is None
    assert set(payloads("referral.withdrawn")) == {ref.grocer.pk}
    assert not AccessEvent.objects.filter(purpose="referral").exists()


# --- reading ---------------------------------------------------------------------------------


def test_lists_by_direction_and_status_pin_their_queries(ref, django_assert_max_num_queries):
    for _ in range(3):
        customer = make_customer()
        link = make_link(customer, ref.gym)
        consent_grant(
            customer=customer,
            purpose=Purpose.objects.get(pk="referral"),
            source_id=ref.gym.pk,
            recipient_id=ref.grocer.pk,
            data_categories=["contact.email"],
        )
        send(ref, customer_id=link.pk)
    ref.grocer_api.get(REFERRALS)  # warm the token cache

    with django_assert_max_num_queries(1):
        inbound = ref.grocer_api.get(REFERRALS, {"direction": "inbound"}).json()["results"]
    outbound = ref.grocer_api.get(REFERRALS, {"direction": "outbound"}).json()["results"]
    sent = ref.gym_api.get(REFERRALS, {"direction": "outbound", "status": "sent"}).json()

    assert len(inbound) == 3 and outbound == []
    assert all(r["data"] is None for r in inbound)  # lists carry no customer data
    assert len(sent["results"]) == 3
    assert ref.grocer_api.get(REFERRALS, {"direction": "sideways"}).status_code == 400


def test_a_list_row_reads_as_the_detail_does(ref):
    referral_id = send(ref).json()["id"]
    act(ref.grocer_api, referral_id, "accept")
    act(ref.grocer_api, referral_id, "convert", {"value": {"amount": "12.5", "currency": "EUR"}})

    row = ref.grocer_api.get(REFERRALS, {"direction": "inbound"}).json()["results"][0]
    detail = ref.grocer_api.get(f"{REFERRALS}/{referral_id}").json()

    referral = Referral.objects.get(pk=referral_id)
    as_drf_writes = serializers.DateTimeField().to_representation
    assert detail["data"] == {"contact.email": "ada@mail.example"}
    assert detail["note"] == "Keen cook"
    assert row == {**detail, "data": None, "note": None}  # lists carry no customer data
    assert set(row) == set(ReferralOutput().fields)
    assert row["customer_id"] == PartnerLink.objects.get(partner=ref.grocer).pk
    assert row["value"] == {"amount": "12.50", "currency": "EUR"}
    for moment in ("created_at", "expires_at", "answered_at", "ended_at"):
        assert row[moment] == as_drf_writes(getattr(referral, moment))


def test_detail_and_create_pin_their_queries(ref, django_assert_max_num_queries):
    ref.gym_api.get(REFERRALS)
    ref.grocer_api.get(REFERRALS)
    # PostgreSQL: one read for every rule (referral_create_facts), the recipient's new link
    # (insert-or-nothing), referral, audit, outbox (event, payload; the endpoints came with
    # the read) and the service's savepoint (2; a transaction in production). SQLite, the ORM
    # path: sender link, gate (2) and its shared lock on the consent, rate, recipient link
    # (3: read, insert-or-nothing, read back), referral, audit, outbox (event, payload,
    # endpoints), and the savepoint (2).
    budget = 8 if connection.vendor == "postgresql" else 15
    with django_assert_max_num_queries(budget):
        referral_id = send(ref).json()["id"]
    ref.grocer_api.get(f"{REFERRALS}/{referral_id}")  # starts the access chain

    with django_assert_max_num_queries(9):
        ref.grocer_api.get(f"{REFERRALS}/{referral_id}")


def test_a_third_partner_gets_404_on_every_route(ref):
    referral_id = send(ref).json()["id"]

    for method, url in [
        ("get", f"{REFERRALS}/{referral_id}"),
        ("post", f"{REFERRALS}/{referral_id}/accept"),
        ("post", f"{REFERRALS}/{referral_id}/decline"),
        ("post", f"{REFERRALS}/{referral_id}/convert"),
        ("post", f"{REFERRALS}/{referral_id}/withdraw"),
    ]:
        response = getattr(ref.third_api, method)(url, {}, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), url
    assert ref.third_api.get(REFERRALS).json()["results"] == []
    assert Referral.objects.get(pk=referral_id).status == "sent"


@pytest.mark.parametrize(
    ("method", "url", "scope"),
    [
        ("get", REFERRALS, "referrals:read"),
        ("post", REFERRALS, "referrals:write"),
        ("get", f"{REFERRALS}/ref_x", "referrals:read"),
        ("post", f"{REFERRALS}/ref_x/accept", "referrals:write"),
        ("post", f"{REFERRALS}/ref_x/withdraw", "referrals:write"),
    ],
)
def test_each_route_needs_its_scope(ref, method, url, scope):
    api = make_api(ref.gym, scopes="partner:read")

    response = getattr(api, method)(url, {}, format="json")

    assert response.status_code == 403 and scope in response.json()["detail"]


def test_referral_create_replays_under_the_same_idempotency_key(ref):
    headers = {"HTTP_IDEMPOTENCY_KEY": "ref-1"}
    body = {"customer_id": ref.gym_link.pk, "to_partner": ref.grocer.pk}

    first = ref.gym_api.post(REFERRALS, body, format="json", **headers)
    second = ref.gym_api.post(REFERRALS, body, format="json", **headers)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Referral.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_two_concurrent_identical_creates_with_one_key_make_one_referral(ref):
    import threading

    from django.db import connection

    body = {"customer_id": ref.gym_link.pk, "to_partner": ref.grocer.pk}
    start = threading.Barrier(2)
    results = []

    def post():
        start.wait()
        response = ref.gym_api.post(REFERRALS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        results.append((response.status_code, response.json().get("id")))
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert Referral.objects.count() == 1
    statuses = sorted(code for code, _ in results)
    # The second either waited for the first and replayed it, or found it in flight.
    assert statuses in ([201, 201], [201, 409])
    created = {ref_id for code, ref_id in results if code == 201}
    assert created == {Referral.objects.get().pk}


def test_every_post_route_of_the_api_takes_an_idempotency_key():
    from django.urls import URLPattern, URLResolver, get_resolver

    from ecosystem.api.idempotency import IdempotentMixin

    def views(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from views(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.callback

    posts = {
        route: callback.view_class
        for route, callback in views(get_resolver().url_patterns)
        if route.startswith("api/v1/") and hasattr(getattr(callback, "view_class", None), "post")
    }

    assert "api/v1/referrals" in posts and "api/v1/customer-links" in posts
    missing = [route for route, view in posts.items() if not issubclass(view, IdempotentMixin)]
    assert missing == []


# --- a link the customer has not confirmed yet ------------------------------------------------


def test_a_referral_naming_your_own_pending_customer_id_says_the_link_is_pending(ref):
    """The id came from POST /api/v1/customer-links moments before: say what is missing."""
    invited = make_link(make_customer(), ref.gym, status="pending")
    response = send(ref, customer_id=invited.pk)
    body = response.json()
    assert response.status_code == 409 and body["code"] == "link_pending"
    assert "not confirmed" in body["detail"]
    assert not Referral.objects.exists()


@pytest.mark.parametrize("status", ["refused", "ended"])
def test_a_referral_naming_a_refused_or_ended_link_is_still_not_found(ref, status):
    gone = make_link(make_customer(), ref.gym, status=status)
    response = send(ref, customer_id=gone.pk)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_referral_naming_another_partners_pending_id_is_not_found(ref):
    theirs = make_link(make_customer(), ref.third, status="pending")
    response = send(ref, customer_id=theirs.pk)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- idempotency under failure -------------------------------------------------------------


def test_an_unhandled_error_releases_the_idempotency_key_so_a_retry_acts(ref, monkeypatch):
    from ecosystem.models import IdempotencyRecord
    from exchanges.referrals.api import views

    real_create = views.services.referral_create

    def broken_create(**kwargs):
        raise RuntimeError("injected fault inside the service")

    monkeypatch.setattr(views.services, "referral_create", broken_create)
    ref.gym_api.raise_request_exception = False
    key = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
    body = {"customer_id": ref.gym_link.pk, "to_partner": ref.grocer.pk, "note": "Keen cook"}

    failed = ref.gym_api.post(REFERRALS, body, format="json", **key)

    assert failed.status_code == 500
    assert failed["Content-Type"] == "application/problem+json"
    assert not IdempotencyRecord.objects.exists()  # released, not left in flight

    monkeypatch.setattr(views.services, "referral_create", real_create)
    retried = ref.gym_api.post(REFERRALS, body, format="json", **key)

    assert retried.status_code == 201, retried.content
    assert Referral.objects.count() == 1
    assert IdempotencyRecord.objects.get().state == "completed"
