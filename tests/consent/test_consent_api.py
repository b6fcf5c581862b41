"""The partner consent API: customer links, consent requests and a customer's consents."""

from __future__ import annotations

import re

import pytest

from consent.models import Consent, Customer, PartnerLink
from consent.services.consents import consent_request_approve
from consent.services.links import customer_link_confirm, invitation_link
from ecosystem.models import IdempotencyRecord
from tests.builders import (
    api_client_for,
    make_api,
    make_consent,
    make_customer,
    make_link,
    make_partner,
)

LINKS = "/api/v1/customer-links"
REQUESTS = "/api/v1/consent-requests"


def consents_url(customer_id: str) -> str:
    return f"/api/v1/customers/{customer_id}/consents"


@pytest.fixture
def apis(flow):
    flow.source_api = make_api(flow.source)
    flow.recipient_api = make_api(flow.recipient)
    return flow


def link_body(**fields):
    return {"external_ref": "member-1001", "email": "grace@mail.example", "name": "Grace", **fields}


# --- customer links -------------------------------------------------------------------------


def test_linking_a_new_customer_creates_a_pending_link_and_emails_an_invitation(
    partner_api, mailbox, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = partner_api.post(LINKS, link_body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"customer_id", "external_ref", "status", "created_at", "confirmed_at"}
    assert body["customer_id"].startswith("cus_")
    assert (body["external_ref"], body["status"]) == ("member-1001", "pending")
    assert len(mailbox) == 1 and mailbox[0].to == ["grace@mail.example"]
    assert partner_api.partner.name in mailbox[0].subject
    assert "Grace" not in mailbox[0].body
    token = re.search(r"/invitations/([^/\s]+)/", mailbox[0].body).group(1)
    assert invitation_link(token).pk == body["customer_id"]


def test_reposting_the_same_external_ref_returns_the_existing_link(partner_api):
    first = partner_api.post(LINKS, link_body(), format="json").json()

    again = partner_api.post(LINKS, link_body(email="someone.else@mail.example"), format="json")

    assert again.status_code == 200
    assert again.json() == first
    assert PartnerLink.objects.count() == 1 and Customer.objects.count() == 1


def test_a_new_external_ref_for_an_already_linked_email_is_refused_naming_the_link(partner_api):
    first = partner_api.post(LINKS, link_body(), format="json").json()

    response = partner_api.post(
        LINKS, link_body(external_ref="member-2002", email="GRACE@mail.example"), format="json"
    )

    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "customer_already_linked"
    assert (body["customer_id"], body["external_ref"]) == (first["customer_id"], "member-1001")
    assert list(PartnerLink.objects.values_list("external_ref", flat=True)) == ["member-1001"]


def test_an_existing_customers_email_looks_exactly_like_a_new_one(partner_api):
    known = make_customer(email="grace@mail.example")
    make_link(known, make_partner())

    response = partner_api.post(LINKS, link_body(email="  GRACE@mail.example "), format="json")
    fresh = partner_api.post(
        LINKS, link_body(external_ref="member-2", email="new@mail.example"), format="json"
    )

    assert response.status_code == fresh.status_code == 201
    assert set(response.json()) == set(fresh.json())
    assert response.json()["status"] == fresh.json()["status"] == "pending"
    link = PartnerLink.objects.get(pk=response.json()["customer_id"])
    assert link.customer == known
    assert known.pii().name == "Test Customer"  # the partner's name for them changed nothing


def test_pairwise_ids_differ_per_partner_for_the_same_customer(partner_api):
    other_api = make_api(make_partner())

    mine = partner_api.post(LINKS, link_body(), format="json").json()["customer_id"]
    theirs = other_api.post(LINKS, link_body(), format="json").json()["customer_id"]

    assert mine != theirs
    assert PartnerLink.objects.get(pk=mine).customer == PartnerLink.objects.get(pk=theirs).customer
    assert other_api.get(f"{LINKS}/{mine}").status_code == 404


def test_invitations_are_capped_per_partner_per_day(partner_api, settings):
    settings.CUSTOMER_INVITATIONS_PER_PARTNER_PER_DAY = 2
    for n in range(2):
        body = link_body(external_ref=f"m{n}", email=f"m{n}@mail.example")
        assert partner_api.post(LINKS, body, format="json").status_code == 201

    refused = partner_api.post(
        LINKS, link_body(external_ref="m3", email="m3@mail.example"), format="json"
    )

    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "invitation_limit_reached"
    assert 0 < int(refused["Retry-After"]) <= 86_400
    assert PartnerLink.objects.count() == 2 and Customer.objects.count() == 2
    # re-posting a known reference is not a new invitation
    assert partner_api.post(LINKS, link_body(external_ref="m0"), format="json").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"external_ref": "x", "email": "not-an-email"},
        {"external_ref": "", "email": "a@mail.example"},
        {"email": "a@mail.example"},
        {"external_ref": "x" * 101, "email": "a@mail.example"},
    ],
)
def test_invalid_link_input_is_a_validation_problem_and_changes_nothing(partner_api, body):
    response = partner_api.post(LINKS, body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert not Customer.objects.exists()


def test_a_link_create_replays_under_the_same_idempotency_key(partner_api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "link-1"}
    first = partner_api.post(LINKS, link_body(), format="json", **headers)
    second = partner_api.post(LINKS, link_body(), format="json", **headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    record = IdempotencyRecord.objects.get()
    assert "grace" not in str(record.__dict__).lower()


def test_a_link_shows_its_status_to_its_partner(partner_api):
    customer_id = partner_api.post(LINKS, link_body(), format="json").json()["customer_id"]
    link = PartnerLink.objects.get(pk=customer_id)
    customer_link_confirm(link=link, customer=link.customer)

    body = partner_api.get(f"{LINKS}/{customer_id}").json()

    assert body["status"] == "active" and body["confirmed_at"]


# --- consent requests ---------------------------------------------------------------------


def request_body(flow, **fields):
    return {
        "customer_id": flow.source_link.pk,
        "recipient": flow.recipient.pk,
        "purpose": "rewards",
        "data_categories": ["activity.visits", "activity.purchases"],
        "message": "Get rewarded for your visits.",
        **fields,
    }


def test_a_consent_request_is_created_and_readable_by_its_partner(apis):
    response = apis.source_api.post(REQUESTS, request_body(apis), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("con_")
    assert body["customer_id"] == apis.source_link.pk
    assert body["status"] == "requested"
    assert body["data_categories"] == ["activity.purchases", "activity.visits"]
    assert body["notice"]["sha256"] and body["notice"]["version"] == 1
    assert apis.source_api.get(f"{REQUESTS}/{body['id']}").json() == body


def test_a_request_outside_any_partnership_is_refused_with_partnership_required(apis):
    stranger = make_partner()

    response = apis.source_api.post(
        REQUESTS, request_body(apis, recipient=stranger.pk), format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "partnership_required"
    assert not Consent.objects.exists()


def test_the_recipient_does_not_see_a_request_until_it_is_granted(apis):
    consent_id = apis.source_api.post(REQUESTS, request_body(apis), format="json").json()["id"]

    before = apis.recipient_api.get(consents_url(apis.recipient_link.pk)).json()["results"]
    consent_request_approve(
        consent=Consent.objects.get(pk=consent_id),
        customer=apis.customer,
        data_categories=["activity.visits"],
    )
    after = apis.recipient_api.get(consents_url(apis.recipient_link.pk)).json()["results"]

    assert before == []
    assert [c["id"] for c in after] == [consent_id]
    assert after[0]["customer_id"] == apis.recipient_link.pk  # its own pairwise id
    assert after[0]["data_categories"] == ["activity.visits"]
    assert apis.source_link.pk not in str(after)
    assert apis.recipient_api.get(f"{REQUESTS}/{consent_id}").status_code == 404


def test_the_consent_list_pins_its_query_count(apis, django_assert_max_num_queries):
    for purpose in ("rewards", "offers"):
        make_consent(
            apis.customer,
            apis.source,
            apis.recipient if purpose == "rewards" else apis.source,
            purpose=purpose,
            categories=("activity.visits",) if purpose == "rewards" else (),
            partnership=apis.partnership if purpose == "rewards" else None,
        )
    for _ in range(5):
        make_consent(apis.customer, apis.source, apis.recipient, status="withdrawn")

    # Warm the token cache and start the customer's access chain: count the steady state.
    apis.source_api.get(consents_url(apis.source_link.pk))

    # link, consents, receipts, the page's partnership flows (consents_in_force); then the
    # access row: savepoint, lock the chain tip, insert, update the tip, release.
    with django_assert_max_num_queries(9):
        response = apis.source_api.get(consents_url(apis.source_link.pk))

    assert response.status_code == 200
    assert len(response.json()["results"]) == 7


def test_the_list_shows_an_expired_consent_as_expired_before_the_job_runs(apis):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    make_consent(
        apis.customer,
        apis.source,
        apis.recipient,
        granted_at=now - timedelta(days=10),
        expires_at=now - timedelta(seconds=1),
    )

    body = apis.source_api.get(consents_url(apis.source_link.pk)).json()

    assert body["results"][0]["status"] == "expired"


# --- isolation and scopes -------------------------------------------------------------------


def routes(flow, consent_id):
    return [
        ("get", f"{LINKS}/{flow.source_link.pk}", None),
        ("get", consents_url(flow.source_link.pk), None),
        ("get", f"{REQUESTS}/{consent_id}", None),
        ("post", REQUESTS, request_body(flow)),
    ]


def test_another_partner_gets_404_for_every_object_of_this_one(apis):
    consent_id = apis.source_api.post(REQUESTS, request_body(apis), format="json").json()["id"]
    intruder = make_api(make_partner())

    for method, url, body in routes(apis, consent_id):
        response = getattr(intruder, method)(url, body, format="json")
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
        assert apis.customer.pk not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "url", "scope"),
    [
        ("post", LINKS, "customers:link"),
        ("get", f"{LINKS}/cus_x", "customers:link"),
        ("get", consents_url("cus_x"), "consent:read"),
        ("post", REQUESTS, "consent:request"),
        ("get", f"{REQUESTS}/con_x", "consent:request"),
    ],
)
def test_every_route_needs_its_scope(flow, method, url, scope):
    api = make_api(flow.source, scopes="partner:read")

    response = getattr(api, method)(url, {}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert scope in response.json()["detail"]


@pytest.mark.parametrize("url", [LINKS, consents_url("cus_x"), REQUESTS])
def test_every_route_needs_a_token(db, url):
    assert api_client_for().get(url).status_code == 401


def test_reposting_a_link_whose_invitation_expired_sends_a_new_one(
    partner_api, mailbox, eager_tasks, django_capture_on_commit_callbacks, settings
):
    from datetime import timedelta

    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=True):
        customer_id = partner_api.post(LINKS, link_body(), format="json").json()["customer_id"]
        again = partner_api.post(LINKS, link_body(), format="json")
    assert again.status_code == 200 and len(mailbox) == 1  # still valid: no second email
    PartnerLink.objects.filter(pk=customer_id).update(
        invited_at=timezone.now() - timedelta(seconds=settings.CUSTOMER_INVITATION_SECONDS + 1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = partner_api.post(LINKS, link_body(), format="json")

    assert (response.status_code, response.json()["status"]) == (200, "pending")
    assert len(mailbox) == 2
    token = re.search(r"/invitations/([^/\s]+)/", mailbox[1].body).group(1)
    assert invitation_link(token).pk == customer_id
