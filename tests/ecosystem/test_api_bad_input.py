"""Every input answered by the contract: nothing a client sends reaches a 500, and what the
schema forbids is refused rather than coerced (found with schemathesis and by hand)."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.cache import cache

from exchanges.referrals.models import Referral
from partners.models import Partner
from partners.oauth import token_cache
from tests.builders import (
    api_client_for,
    make_client,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
)

PROBLEM = "application/problem+json"
NUL = "%00"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    token_cache.local_tier.clear()


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body


def error_fields(response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


# --- NUL bytes (PostgreSQL text cannot hold them) ----------------------------------------------

PATH_ID_OPERATIONS = [
    ("get", "/api/v1/customer-links/cus_{}"),
    ("get", "/api/v1/customers/cus_{}/consents"),
    ("get", "/api/v1/consent-requests/con_{}"),
    ("get", "/api/v1/referrals/ref_{}"),
    ("post", "/api/v1/referrals/ref_{}/accept"),
    ("post", "/api/v1/referrals/ref_{}/decline"),
    ("post", "/api/v1/referrals/ref_{}/convert"),
    ("post", "/api/v1/referrals/ref_{}/withdraw"),
    ("get", "/api/v1/webhook-endpoints/whe_{}"),
    ("patch", "/api/v1/webhook-endpoints/whe_{}"),
    ("delete", "/api/v1/webhook-endpoints/whe_{}"),
    ("post", "/api/v1/webhook-endpoints/whe_{}/rotate-secret"),
    ("post", "/api/v1/webhook-endpoints/whe_{}/test"),
    ("post", "/api/v1/webhook-deliveries/dlv_{}/retry"),
]


@pytest.mark.parametrize(("method", "path"), PATH_ID_OPERATIONS)
def test_a_nul_byte_in_a_path_id_is_a_plain_404(partner_api, method, path):
    response = getattr(partner_api, method)(path.format(NUL), {}, format="json")
    assert_problem(response, 404, "not_found")


def test_a_nul_byte_in_a_portal_or_admin_path_is_a_404_page(db, client, ecosystem_admin):
    assert client.get(f"/admin/partners/partner/par_{NUL}/change/").status_code == 404
    assert client.get(f"/consents/con_{NUL}/").status_code == 404


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize("endpoint", ["/o/token/", "/o/introspect/", "/o/revoke_token/"])
@pytest.mark.parametrize("how", ["basic", "form"])
def test_a_nul_byte_in_client_credentials_is_invalid_client(db, client, endpoint, how):
    real = make_client()
    client_id, secret = f"{real.pk}\x00", "s\x00cret"
    form = {"grant_type": "client_credentials", "token": "t"}
    if how == "basic":
        response = client.post(endpoint, form, HTTP_AUTHORIZATION=_basic(client_id, secret))
    else:
        response = client.post(endpoint, {**form, "client_id": client_id, "client_secret": secret})
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "invalid_client"


# --- cursors and limits ------------------------------------------------------------------------

LISTS = [
    "/api/v1/referrals",
    "/api/v1/partnerships",
    "/api/v1/customers/{customer}/consents",
    "/api/v1/webhook-endpoints",
    "/api/v1/webhook-deliveries",
    "/api/v1/events",
]
FORGED_CURSORS = [
    "cD0yMDI2",  # base64 of p=2026: decodes, but its position is no timestamp
    base64.b64encode(b"p=\x00").decode(),
    base64.b64encode(b"o=-5").decode(),
    base64.b64encode(b"o=abc&p=2026-01-01").decode(),
    "not base64!",
    "",
]


@pytest.fixture
def lists(partner_api):
    link = make_link(make_customer(), partner_api.partner)
    return [path.format(customer=link.pk) for path in LISTS]


@pytest.mark.parametrize("cursor", FORGED_CURSORS)
def test_a_forged_cursor_on_any_list_is_a_validation_error(partner_api, lists, cursor):
    for path in lists:
        response = partner_api.get(path, {"cursor": cursor})
        assert_problem(response, 400, "validation_error")
        assert error_fields(response) == ["cursor"], path


@pytest.mark.parametrize("limit", ["abc", "-1", "0", "null", "", "1.5", "201", "٣"])
def test_a_limit_outside_1_to_200_on_any_list_is_a_validation_error(partner_api, lists, limit):
    for path in lists:
        response = partner_api.get(path, {"limit": limit})
        assert_problem(response, 400, "validation_error")
        assert error_fields(response) == ["limit"], path


def test_a_valid_limit_and_the_next_cursor_page_through(partner_api):
    api = partner_api
    for _ in range(3):
        make_partnership(api.partner, make_partner())
    first = api.get("/api/v1/partnerships", {"limit": "2"})
    assert first.status_code == 200 and len(first.json()["results"]) == 2
    second = api.get(first.json()["next"])
    assert second.status_code == 200 and len(second.json()["results"]) == 1


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/referrals", "status"),
        ("/api/v1/referrals", "direction"),
        ("/api/v1/webhook-deliveries", "status"),
        ("/api/v1/webhook-deliveries", "endpoint"),
        ("/api/v1/events", "until"),
        ("/api/v1/events", "since"),
        ("/api/v1/events", "type"),
    ],
)
def test_an_empty_filter_is_refused_not_ignored(partner_api, path, param):
    response = partner_api.get(path, {param: ""})
    assert_problem(response, 400, "validation_error")
    assert error_fields(response) == [param]


# --- bodies ------------------------------------------------------------------------------------


def test_a_json_body_nested_100000_deep_is_a_malformed_request(partner_api):
    body = "[" * 100_000 + "]" * 100_000
    response = partner_api.post("/api/v1/referrals", body, content_type="application/json")
    assert_problem(response, 400, "malformed_request")
    assert not Referral.objects.exists()


def test_a_number_where_the_schema_wants_a_string_is_refused(partner_api):
    response = partner_api.post(
        "/api/v1/referrals",
        {"customer_id": "cus_x", "to_partner": "par_x", "note": 42},
        format="json",
    )
    assert_problem(response, 400, "validation_error")
    assert error_fields(response) == ["note"]
    assert response.json()["errors"][0]["code"] == "not_a_string"


def test_numbers_as_slug_and_name_are_refused_and_nothing_is_created(db):
    body = {
        "slug": 173609733,
        "name": -12262,
        "sector": "fitness",
        "contact_name": "Pat",
        "contact_email": "pat@pulse.example",
    }
    response = api_client_for().post("/api/v1/partner-registrations", body, format="json")
    assert_problem(response, 400, "validation_error")
    assert sorted(error_fields(response)) == ["name", "slug"]
    assert not Partner.objects.exists()


@pytest.mark.parametrize("enabled", ["true", 1, "yes"])
def test_a_boolean_must_be_a_json_boolean(partner_api, enabled):
    response = partner_api.post(
        "/api/v1/webhook-endpoints",
        {
            "url": "https://hooks.example/x",
            "event_types": ["referral.received"],
            "enabled": enabled,
        },
        format="json",
    )
    assert_problem(response, 400, "validation_error")
    assert error_fields(response) == ["enabled"]


def test_strings_in_nested_lists_are_checked_too(partner_api):
    link = make_link(make_customer(), partner_api.partner)
    response = partner_api.post(
        "/api/v1/consent-requests",
        {"customer_id": link.pk, "purpose": "link", "data_categories": [7], "message": "Hi"},
        format="json",
    )
    assert_problem(response, 400, "validation_error")
    assert error_fields(response) == ["data_categories"]


# --- the OAuth endpoints' own error format --------------------------------------------------


@pytest.mark.parametrize("endpoint", ["/o/token/", "/o/introspect/", "/o/revoke_token/"])
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_a_method_other_than_post_on_an_oauth_endpoint_is_a_problem_405(
    db, client, endpoint, method
):
    response = getattr(client, method)(endpoint)
    assert_problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_a_successful_revocation_answers_json_not_an_empty_html_page(db, client):
    from tests.builders import make_token

    partner_client = make_client()
    _, raw = make_token(partner_client)
    response = client.post(
        "/o/revoke_token/",
        {"token": raw},
        HTTP_AUTHORIZATION=_basic(partner_client.pk, partner_client.secret),
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {}
