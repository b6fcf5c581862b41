"""The console's API clients list, webhook endpoint form and quickstart, as partner staff
read them: names and plain states instead of raw fields, and only their own brand's rows."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.utils import quote
from django.core.cache import cache
from django.utils import timezone

from partners.webhooks.models import SUBSCRIBABLE_EVENT_TYPES, WebhookEndpoint
from tests.builders import make_api, make_client, make_customer, make_partner, make_staff

pytestmark = pytest.mark.django_db

CLIENTS = "/partner-admin/partners/partnerclient/"
ENDPOINTS = "/partner-admin/webhooks/webhookendpoint/"


@pytest.fixture
def gym(client):
    cache.clear()  # the request tallies "last used" reads
    gym = make_partner(name="Gym", scope_ceiling="partner:read referrals:read referrals:write")
    client.force_login(make_staff(gym))
    yield gym
    cache.clear()


def _row(html: str, name: str) -> str:
    """The changelist row whose first cell links to ``name``."""
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if f">{name}</a>" in row:
            return row
    raise AssertionError(f"no row for {name}")


# --- API clients ----------------------------------------------------------------------------


def test_the_clients_list_shows_scopes_as_chips_last_use_and_actions(client, gym):
    idle = make_client(gym, name="Idle", scopes="partner:read referrals:read")
    make_api(gym, scopes="partner:read").get("/api/v1/partner")  # "Test client", just used
    gone = make_client(gym, name="Gone")
    gone.revoked_at = timezone.now()
    gone.save(update_fields=["revoked_at"])

    html = client.get(CLIENTS).content.decode()

    row = _row(html, "Idle")
    assert re.findall(r"<li>([^<]+)</li>", row) == ["partner:read", "referrals:read"]
    assert "Not in the last 90 days" in row and "Server to server" in row
    assert f'href="{CLIENTS}{idle.pk}/rotate/">Rotate secret</a>' in row
    assert f'href="{CLIENTS}{idle.pk}/revoke/">Revoke</a>' in row
    used = _row(html, "Test client")
    assert re.search(r'<time datetime="[^"]+">0\xa0minutes ago</time>', used), used
    revoked = _row(html, "Gone")
    assert "Revoked: no actions" in revoked and "/rotate/" not in revoked


def test_the_clients_list_reads_last_use_in_one_round_trip_and_flat_queries(
    client, gym, django_assert_max_num_queries, request
):
    make_client(gym, name="c0")
    client.get(CLIENTS)
    with django_assert_max_num_queries(20) as few:
        client.get(CLIENTS)
    for n in range(1, 6):
        make_client(gym, name=f"c{n}")
    reads = request.getfixturevalue("tally_reads")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(CLIENTS)

    assert response.status_code == 200 and len(reads) == 1


def test_the_clients_list_shows_no_other_brands_client(client, gym):
    theirs = make_client(make_partner(name="Bank"), name="Bank backend")

    html = client.get(CLIENTS).content.decode()

    assert "Bank backend" not in html and theirs.pk not in html


# --- Webhook endpoints ----------------------------------------------------------------------


@pytest.fixture
def public_dns(monkeypatch):
    """DNS answers a public address for the form's host (no network in tests)."""
    from ecosystem import ssrf

    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34"])


def _endpoint_form(**fields):
    return {"url": "https://hooks.gym.example/in", "description": "", "enabled": "on", **fields}


def test_the_endpoint_form_groups_event_types_and_says_what_each_is(client, gym):
    html = client.get(f"{ENDPOINTS}add/").content.decode()

    assert "All events" in html
    for group in ("Customers and their links", "Consents", "Referrals", "Rewards", "Offers"):
        assert f"<label>{group}</label>" in html, group
    assert "consent.withdrawn: A customer withdrew a consent" in html
    assert "Disabled reason" not in html


def test_all_events_subscribes_the_endpoint_to_every_type(client, gym, public_dns):
    response = client.post(
        f"{ENDPOINTS}add/", _endpoint_form(all_events="on", signature_scheme="v1")
    )

    assert response.status_code == 302
    (endpoint,) = WebhookEndpoint.objects.filter(partner=gym)
    assert endpoint.event_types == SUBSCRIBABLE_EVENT_TYPES
    change = client.get(f"{ENDPOINTS}{quote(endpoint.pk)}/change/").content.decode()
    assert re.search(r'<input type="checkbox" name="all_events"[^>]* checked', change)


def test_an_endpoint_without_any_event_type_is_refused_next_to_the_field(client, gym, public_dns):
    response = client.post(f"{ENDPOINTS}add/", _endpoint_form(signature_scheme="v1"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["event_types"] == [
        "Tick All events, or at least one event type."
    ]
    assert not WebhookEndpoint.objects.filter(partner=gym).exists()


def test_picked_event_types_are_kept_as_picked(client, gym, public_dns):
    client.post(
        f"{ENDPOINTS}add/",
        _endpoint_form(
            event_types=["consent.withdrawn", "referral.received"], signature_scheme="v1"
        ),
    )

    (endpoint,) = WebhookEndpoint.objects.filter(partner=gym)
    assert endpoint.event_types == ["consent.withdrawn", "referral.received"]


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, "On"),
        ({"failing_since": timezone.now()}, "On, but failing since"),
        ({"enabled": False, "disabled_reason": "partner"}, "Off: switched off by you"),
        ({"enabled": False, "disabled_reason": "gone"}, "Off: it answered 410 Gone"),
        ({"enabled": False, "disabled_reason": "failing"}, "Off: it failed for too long"),
    ],
)
def test_an_endpoint_says_its_state_in_one_sentence(client, gym, fields, state):
    endpoint = WebhookEndpoint.objects.create(
        partner=gym, url="https://hooks.gym.example/in", event_types=["ping"], **fields
    )

    listed = client.get(ENDPOINTS).content.decode()
    change = client.get(f"{ENDPOINTS}{quote(endpoint.pk)}/change/").content.decode()

    assert state in _row(listed, endpoint.url)
    assert state in change
    assert "Disabled reason" not in listed + change


# --- Quickstart -----------------------------------------------------------------------------


def test_the_quickstart_fills_in_this_gateway_and_the_brands_own_client(client, gym):
    backend = make_client(gym, name="Backend")
    make_client(make_partner(name="Bank"), name="Bank backend")

    response = client.get("/partner-admin/quickstart/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'curl -s -u "{backend.pk}:$CLIENT_SECRET"' in html
    assert "http://testserver/o/token/" in html and "http://testserver/api/v1/partner" in html
    assert re.findall(r"<li>([a-z:]+)</li>", html) == [
        "partner:read",
        "referrals:read",
        "referrals:write",
    ]
    assert "Bank backend" not in html
    assert 'data-copy="qs-token"' in html


def test_the_quickstart_names_a_server_client_never_a_connect_one(client, gym):
    from partners.services.clients import connect_client_create

    connect_client_create(
        partner=gym,
        name="Website sign-in",
        scopes={"openid"},
        redirect_uris=["https://gym.example/callback"],
        actor=None,
    )
    backend = make_client(gym, name="Backend")

    html = client.get("/partner-admin/quickstart/").content.decode()

    assert f'curl -s -u "{backend.pk}:$CLIENT_SECRET"' in html
    assert "Website sign-in" not in html


def test_the_quickstart_without_a_client_says_to_create_one(client, gym):
    html = client.get("/partner-admin/quickstart/").content.decode()

    assert 'curl -s -u "$CLIENT_ID:$CLIENT_SECRET"' in html
    assert f'href="{CLIENTS}add/">Create one</a>' in html


def test_the_quickstart_is_for_signed_in_staff_only(client, taxonomy):
    customer = make_customer(password="pw-customer-123")

    anonymous = client.get("/partner-admin/quickstart/")
    client.force_login(customer.user)
    as_customer = client.get("/partner-admin/quickstart/")

    for response in (anonymous, as_customer):
        assert response.status_code == 302
        assert response["Location"].startswith("/partner-admin/login/")
