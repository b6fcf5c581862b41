"""The OAuth endpoints: client credentials, per-client scopes, introspection, revocation."""

import base64

import pytest
from django.core.cache import cache
from oauth2_provider.models import AccessToken

from partners.models import Partner
from partners.oauth import token_cache
from partners.services.clients import client_revoke
from tests.builders import make_client, make_partner, make_token


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    token_cache.local_tier.clear()


def _basic(client, secret=None):
    raw = f"{client.id}:{secret or client.secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def _token(http, client, secret=None, **data):
    return http.post(
        "/o/token/", {"grant_type": "client_credentials", **data}, **_basic(client, secret)
    )


def test_client_credentials_issue_a_token_with_the_clients_own_scopes(db, client):
    partner_client = make_client(scopes="partner:read referrals:read")
    response = _token(client, partner_client)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert set(body["scope"].split()) == {"partner:read", "referrals:read"}
    stored = AccessToken.objects.get(application=partner_client.application)
    assert stored.token == ""  # RFC 9700: only the checksum is kept at rest


def test_token_and_introspection_endpoints_need_no_csrf_token(db):
    """Partners' servers have no CSRF cookie; the test client normally skips the check."""
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    partner_client = make_client()
    response = _token(strict, partner_client)
    assert response.status_code == 200, response.content
    assert _introspect(strict, partner_client, response.json()["access_token"]).json()["active"]


def test_a_request_naming_no_scope_gets_the_clients_set_not_every_scope(db, client):
    partner_client = make_client(scopes="partner:read")
    body = _token(client, partner_client).json()
    assert body["scope"] == "partner:read"


def test_a_scope_outside_the_clients_set_is_refused(db, client):
    partner_client = make_client(scopes="partner:read")
    response = _token(client, partner_client, scope="partner:read webhooks:manage")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_the_ceiling_bounds_a_clients_scopes(db, client):
    partner = make_partner(scope_ceiling="partner:read")
    partner_client = make_client(partner, scopes="partner:read webhooks:manage")
    assert _token(client, partner_client).json()["scope"] == "partner:read"


def test_a_wrong_secret_gets_no_token(db, client):
    response = _token(client, make_client(), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_revoked_client_gets_no_token(db, client):
    partner_client = make_client()
    client_revoke(client=partner_client, actor=None)
    assert _token(client, partner_client).json()["error"] == "invalid_client"


@pytest.mark.parametrize("status", ["pending", "suspended", "rejected", "offboarded"])
def test_an_inactive_partners_valid_client_is_told_partner_inactive(db, client, status):
    partner_client = make_client(make_partner(status=status))

    response = _token(client, partner_client)

    assert response.status_code == 400
    assert response.json()["error"] == "partner_inactive"
    assert "not active" in response.json()["error_description"]
    assert not AccessToken.objects.exists()


def test_a_suspended_partner_suspended_through_the_service_is_told_partner_inactive(db, client):
    from partners.services.partners import partner_suspend

    partner_client = make_client()
    assert _token(client, partner_client).status_code == 200
    partner_suspend(partner=partner_client.partner, actor=None, reason="Unpaid invoice")

    response = _token(client, partner_client)

    assert (response.status_code, response.json()["error"]) == (400, "partner_inactive")
    assert AccessToken.objects.count() == 1  # the one issued before


def test_a_suspended_partners_client_with_a_wrong_secret_hears_only_invalid_client(db, client):
    # partner_inactive only once the secret is right: it tells nobody else the status.
    partner_client = make_client(make_partner(status="suspended"))
    response = _token(client, partner_client, secret="not-the-secret")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_the_secret_is_stored_with_the_fast_hasher(db):
    partner_client = make_client()
    assert partner_client.application.client_secret.startswith("client_secret_sha256$")
    assert partner_client.secret not in partner_client.application.client_secret


@pytest.mark.usefixtures("rate_window_ahead")
def test_token_requests_are_throttled_per_address_before_the_secret_is_checked(
    db, client, settings
):
    settings.OAUTH_TOKEN_RATE_PER_MINUTE = 2
    partner_client = make_client()
    assert _token(client, partner_client, secret="wrong").status_code == 401
    assert _token(client, partner_client, secret="wrong").status_code == 401
    response = _token(client, partner_client)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


def _introspect(http, caller, token):
    return http.post("/o/introspect/", {"token": token}, **_basic(caller))


def test_a_client_may_introspect_its_own_token(db, client):
    partner_client = make_client(scopes="partner:read")
    _, raw = make_token(partner_client)
    body = _introspect(client, partner_client, raw).json()
    assert body["active"] is True
    assert body["client_id"] == partner_client.id and body["scope"] == "partner:read"


def test_another_clients_token_introspects_as_inactive(db, client):
    _, raw = make_token(make_client())
    assert _introspect(client, make_client(), raw).json() == {"active": False}


def test_a_suspended_partner_can_no_longer_introspect(db, client):
    partner_client = make_client()
    _, raw = make_token(partner_client)
    Partner.objects.filter(pk=partner_client.partner_id).update(status="suspended")
    response = _introspect(client, partner_client, raw)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_a_suspended_partners_token_introspects_as_inactive(db, monkeypatch):
    """Even if its client still authenticated, the token of a suspended partner is inactive."""
    from partners.oauth.views import PartnerIntrospectView

    partner_client = make_client()
    _, raw = make_token(partner_client)
    Partner.objects.filter(pk=partner_client.partner_id).update(status="suspended")
    view = PartnerIntrospectView()
    view.caller = partner_client.application
    assert view._answer(raw).content == b'{"active": false}'


def test_introspection_without_client_credentials_is_refused(db, client):
    _, raw = make_token()
    response = client.post("/o/introspect/", {"token": raw})
    assert response.status_code == 401 and response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    assert response["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.django_db(transaction=True)
def test_revoking_a_token_at_the_endpoint_refuses_it_at_once(client):
    partner_client = make_client()
    _, raw = make_token(partner_client)
    api = f"Bearer {raw}"
    assert client.get("/api/v1/partner", HTTP_AUTHORIZATION=api).status_code == 200
    response = client.post("/o/revoke_token/", {"token": raw}, **_basic(partner_client))
    assert response.status_code == 200
    assert client.get("/api/v1/partner", HTTP_AUTHORIZATION=api).status_code == 401


def test_metadata_lists_the_endpoints_and_scopes(db, client, settings):
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["issuer"] == settings.SITE_URL
    assert body["token_endpoint"].endswith("/o/token/")
    assert body["grant_types_supported"] == [
        "client_credentials",
        "authorization_code",
        "refresh_token",
    ]
    assert body["authorization_endpoint"] == f"{settings.SITE_URL}/o/authorize/"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert "referrals:write" in body["scopes_supported"]


def test_dots_registration_views_are_not_mounted(db, client):
    # /o/authorize/ is the connect flow's (tests/consent/connect); DOT's management is not.
    assert client.get("/o/applications/").status_code == 404
