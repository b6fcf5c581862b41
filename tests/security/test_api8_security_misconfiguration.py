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


# --- headers and cookies under production settings ------------------------------------------

PAGES = ["/login/", "/account/password-reset/", "/admin/login/", "/partner-admin/login/"]
ANSWERS = [*PAGES, "/api/v1/partner", "/o/token/", "/no-such-page/", "/api/docs/"]


@pytest.fixture(scope="module")
def production():
    """The answers to ANSWERS from a process on production settings (throwaway keys, as
    .ci/run's deploy check uses)."""
    import base64
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    def key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    env = {
        **{k: v for k, v in os.environ.items() if k != "DEBUG"},
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "ecosystem.settings",
        "SECRET_KEY": key() + key(),
        "ALLOWED_HOSTS": "gateway.example.com",
        "SITE_URL": "https://gateway.example.com",
        "FIELD_ENCRYPTION_KEYS": f"k1:{key()}",
        "BLIND_INDEX_KEY": f"b1:{key()}",
        "RECEIPT_SIGNING_KEY": f"r1:{key()}",
        "OIDC_RSA_PRIVATE_KEY": (
            Path(__file__).resolve().parents[2] / "ecosystem" / "dev_keys" / "oidc-dev.pem"
        ).read_text(),
    }
    probe = Path(__file__).with_name("production_probe.py")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(probe), *ANSWERS],
        env={**env, "PYTHONPATH": str(root)},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ANSWERS)
def test_every_answer_carries_the_security_headers(production, path):
    headers = production[path]["headers"]

    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    policy = _policy(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # never inline, never eval, nowhere else
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", PAGES)
def test_our_pages_allow_no_inline_style_or_script(production, path):
    policy = _policy(production[path]["headers"]["Content-Security-Policy"])
    body = production[path]["body"]

    assert "'unsafe-inline'" not in policy["style-src"]
    assert "<script>" not in body and " style=" not in body and "<style>" not in body
    assert " on" + "click=" not in body and "javascript:" not in body


def test_only_the_api_docs_page_allows_its_one_inline_style(production):
    policy = _policy(production["/api/docs/"]["headers"]["Content-Security-Policy"])
    body = production["/api/docs/"]["body"]

    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["script-src"] == ["'self'"]
    assert "<script>" not in body  # the split view serves its set-up script as a file


@pytest.mark.parametrize("path", PAGES)
def test_cookies_are_secure_and_http_only(production, path):
    for name, flags in production[path]["cookies"].items():
        assert flags == {"secure": True, "httponly": True}, name


def test_no_debug_page_in_production(production):
    missing = production["/no-such-page/"]

    assert missing["status"] == 404
    assert "Traceback" not in missing["body"] and "URLconf" not in missing["body"]
    assert "DEBUG = True" not in missing["body"]


def test_the_login_pages_are_not_stored(production):
    for path in ("/login/", "/admin/login/", "/partner-admin/login/"):
        assert "no-store" in production[path]["headers"]["Cache-Control"], path
