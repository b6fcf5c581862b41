"""OWASP API4:2023 Unrestricted Resource Consumption.

Requests that cost the gateway more than they should: huge or deeply nested bodies, huge
pages or batches, and routes without a rate limit. Each is refused with problem+json (never a
500) before the work is done, and every route, the token endpoint and the public forms
included, is throttled.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client


def test_a_body_over_the_upload_limit_is_refused(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"customer_id": world.gym_link.pk, "to_partner": world.grocer.pk, "note": "x" * 20_000}

    answer = world.gym_api.post("/api/v1/referrals", body, format="json")

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"  # before: Django's HTML page
    assert answer.json()["code"] == "request_too_large"


def test_deeply_nested_json_is_a_problem_not_a_crash(world):
    nested = "[" * 100_000 + "]" * 100_000

    answer = world.gym_api.generic(
        "POST", "/api/v1/activities", nested, content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"


def test_a_page_larger_than_the_maximum_is_refused_or_capped(world):
    answer = world.gym_api.get("/api/v1/referrals?limit=100000")

    assert answer.status_code in (200, 400)
    if answer.status_code == 400:
        assert answer["Content-Type"] == "application/problem+json"


def test_a_batch_over_500_items_is_refused_whole(world):
    item = {
        "external_id": "e",
        "customer_id": world.gym_link.pk,
        "type": "gym.visit",
        "occurred_at": "2026-01-01T00:00:00Z",
        "quantity": 1,
    }
    items = [{**item, "external_id": f"e{n}"} for n in range(501)]

    answer = world.gym_api.post("/api/v1/activities", {"items": items}, format="json")

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"


@pytest.mark.usefixtures("rate_window_ahead")
def test_api_calls_are_throttled_per_client(world, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    answers = [world.gym_api.get("/api/v1/partner") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert int(answers[-1]["Retry-After"]) >= 1
    assert answers[0]["RateLimit-Limit"] == "3"


@pytest.mark.usefixtures("rate_window_ahead")
def test_the_public_registration_form_is_throttled_per_address(db, settings):
    settings.PARTNER_APPLY_RATE_PER_MINUTE = 2
    http = Client(REMOTE_ADDR="198.51.100.8")
    answers = [
        http.post("/api/v1/partner-registrations", json.dumps({}), content_type="application/json")
        for _ in range(3)
    ]

    assert answers[-1].status_code == 429


@pytest.mark.usefixtures("rate_window_ahead")
def test_the_token_endpoint_is_throttled(db, settings):
    settings.OAUTH_TOKEN_RATE_PER_MINUTE = 2
    http = Client(REMOTE_ADDR="198.51.100.9")
    answers = [http.post("/o/token/", {"grant_type": "client_credentials"}) for _ in range(3)]

    assert answers[-1].status_code == 429


@pytest.mark.usefixtures("rate_window_ahead")
def test_the_connect_endpoints_are_throttled(db, settings):
    # The authorization endpoint (a page for people) and UserInfo (problem+json); their
    # per-customer and per-token limits are in tests/consent/connect/test_throttles.py.
    settings.OAUTH_CONNECT_RATE_PER_MINUTE = 2
    http = Client(REMOTE_ADDR="198.51.100.10")
    authorize = [http.get("/o/authorize/?client_id=nobody") for _ in range(3)]
    userinfo = [http.get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer x") for _ in range(3)]

    assert (
        authorize[-1].status_code == 429 and "Too many requests" in authorize[-1].content.decode()
    )
    assert userinfo[-1].status_code == 429 and userinfo[-1].json()["code"] == "rate_limited"
