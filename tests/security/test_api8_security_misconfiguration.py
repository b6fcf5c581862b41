"""OWASP API8:2023 Security Misconfiguration.

Missing hardening anywhere in the stack: caching of secrets and personal data, missing
security headers (CSP, HSTS, frame-ancestors, nosniff, Referrer-Policy), insecure cookies,
debug pages. Checked under the production settings where they differ from development.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.builders import make_admin, make_staff

ENDPOINTS = "/api/v1/webhook-endpoints"


# --- no-store on secrets and customer data --------------------------------------------------


def test_a_new_webhook_secret_is_never_stored_by_a_cache(world):
    created = world.gym_api.post(
        ENDPOINTS,
        {"url": "https://hooks.gym.example/in", "event_types": ["referral.received"]},
        format="json",
    )
    rotated = world.gym_api.post(f"{ENDPOINTS}/{created.json()['id']}/rotate-secret")

    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
    assert created["Cache-Control"] == "no-store"
    assert rotated["Cache-Control"] == "no-store"


def test_a_referral_with_customer_data_is_never_stored_by_a_cache(world):
    shown = world.grocer_api.get(f"/api/v1/referrals/{world.referral.pk}")

    assert shown.status_code == 200 and shown.json()["data"] == {
        "contact.email": "ada@mail.example"
    }
    assert shown["Cache-Control"] == "no-store"


def test_api_refusals_and_token_answers_are_not_stored_either(world):
    assert world.gym_api.get("/api/v1/referrals/ref_nothere")["Cache-Control"] == "no-store"
    assert Client().post("/o/token/")["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/", "/history/", "/access/", "/my-data/"])
def test_every_signed_in_portal_page_is_no_store(world, client, path):
    client.force_login(world.customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("path", ["/partner-admin/", "/partner-admin/partners/partner/"])
def test_every_console_page_is_no_store(world, client, path):
    client.force_login(make_staff(world.gym))

    response = client.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_admin_pages_are_no_store(world, client):
    client.force_login(make_admin())

    response = client.get("/admin/")

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
