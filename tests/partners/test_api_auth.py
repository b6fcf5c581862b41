"""Who may call the API: 401s, 403 insufficient_scope, throttling, rate-limit headers."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.models import AccessToken

from partners.models import Partner
from partners.oauth import token_cache
from partners.services.clients import client_revoke
from tests.builders import api_client_for, make_client, make_partner, make_token


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    token_cache.local_tier.clear()


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    return response.json()


def test_a_missing_token_is_401_with_a_bearer_challenge(db):
    response = api_client_for().get("/api/v1/partner")
    _problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer", "Bearer not-a-token", "Basic abc", "Token x"])
def test_a_malformed_or_unknown_token_is_401(db, header):
    client = api_client_for()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/v1/partner").status_code == 401


def test_an_expired_token_is_401(db):
    token, raw = make_token()
    AccessToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    assert api_client_for(raw).get("/api/v1/partner").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_revoked_clients_token_is_401():
    partner_client = make_client()
    _, raw = make_token(partner_client)
    api = api_client_for(raw)
    assert api.get("/api/v1/partner").status_code == 200
    client_revoke(client=partner_client, actor=None)
    assert api.get("/api/v1/partner").status_code == 401


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", ["suspended", "rejected", "offboarded"])
def test_an_inactive_partners_token_is_refused_on_the_next_request(status):
    partner_client = make_client()
    _, raw = make_token(partner_client)
    api = api_client_for(raw)
    assert api.get("/api/v1/partner").status_code == 200  # now warm in the cache
    partner = Partner.objects.get(pk=partner_client.partner_id)
    partner.status = status
    partner.save()
    token_cache.local_tier.clear()  # as in another process; this one cleared it anyway
    _problem(api.get("/api/v1/partner"), 401, "partner_inactive")


def test_a_missing_scope_is_403_insufficient_scope(db):
    _, raw = make_token(scopes="referrals:read")
    body = _problem(api_client_for(raw).get("/api/v1/partner"), 403, "insufficient_scope")
    assert "partner:read" in body["detail"]


def test_a_token_without_a_partner_client_is_refused(db):
    from oauth2_provider.models import Application, set_token_value

    application = Application.objects.create(
        client_id="plain", client_type="confidential", authorization_grant_type="client-credentials"
    )
    token = AccessToken(
        application=application, scope="partner:read", expires=timezone.now() + timedelta(minutes=5)
    )
    set_token_value(token, "plain-token-value")
    token.save()
    _problem(api_client_for("plain-token-value").get("/api/v1/partner"), 401, "invalid_token")


def test_every_response_carries_rate_limit_headers(partner_api, settings):
    response = partner_api.get("/api/v1/partner")
    assert response["RateLimit-Limit"] == str(settings.API_RATE_LIMIT_PER_MINUTE)
    assert int(response["RateLimit-Remaining"]) == settings.API_RATE_LIMIT_PER_MINUTE - 1
    assert 1 <= int(response["RateLimit-Reset"]) <= 60


@pytest.mark.usefixtures("rate_window_ahead")
def test_the_api_is_throttled_per_client(db, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    _, first = make_token()
    _, second = make_token()
    api = api_client_for(first)
    assert [api.get("/api/v1/partner").status_code for _ in range(2)] == [200, 200]
    response = api.get("/api/v1/partner")
    _problem(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    assert response["RateLimit-Remaining"] == "0"
    assert api_client_for(second).get("/api/v1/partner").status_code == 200


def test_the_schema_shows_the_oauth_flow_and_each_operations_scopes(db, client):
    schema = client.get("/api/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["oauth2"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/o/token/"
    assert "referrals:write" in scheme["flows"]["clientCredentials"]["scopes"]
    operation = schema["paths"]["/api/v1/partner"]["get"]
    assert {"oauth2": ["partner:read"]} in operation["security"]


def test_pending_partner_client_cannot_call(db):
    partner_client = make_client(make_partner(status=Partner.Status.PENDING))
    _, raw = make_token(partner_client)
    _problem(api_client_for(raw).get("/api/v1/partner"), 401, "partner_inactive")


def _authenticate(raw):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from partners.api.auth import PartnerAuthentication

    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    return PartnerAuthentication().authenticate(request)


def test_a_warm_token_is_authenticated_with_no_query(db, django_assert_num_queries):
    partner_client = make_client(scopes="partner:read")
    _, raw = make_token(partner_client)
    _authenticate(raw)  # cold: reads the row and fills the cache
    with django_assert_num_queries(0):
        user, token = _authenticate(raw)
    assert user is None
    assert token.partner.pk == partner_client.partner_id and token.partner.is_active
    assert token.is_valid(["partner:read"]) and not token.allow_scopes(["offers:write"])


def test_a_warm_token_from_the_shared_tier_alone_needs_no_query(db, django_assert_num_queries):
    _, raw = make_token()
    _authenticate(raw)
    token_cache.local_tier.clear()  # as a process that never saw this token
    with django_assert_num_queries(0):
        assert _authenticate(raw) is not None


@pytest.mark.django_db(transaction=True)
def test_narrowing_a_clients_scopes_refuses_its_warm_token_at_once():
    from partners.services.clients import client_set_scopes

    partner_client = make_client(scopes="partner:read referrals:read")
    _, raw = make_token(partner_client)
    api = api_client_for(raw)
    assert api.get("/api/v1/partner").status_code == 200
    client_set_scopes(client=partner_client, scopes={"referrals:read"}, actor=None)
    token_cache.local_tier.clear()
    assert api.get("/api/v1/partner").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_an_expired_warm_token_is_refused():
    import time

    _, raw = make_token(expires_in=2)
    api = api_client_for(raw)
    assert api.get("/api/v1/partner").status_code == 200  # warm in both tiers
    time.sleep(2.1)
    assert token_cache.cached_grant(token_cache.checksum_of(raw)) is None
    assert api.get("/api/v1/partner").status_code == 401
