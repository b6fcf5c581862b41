"""The OAuth endpoints as a standard client library (authlib) meets them, over HTTP against
the live test server: what RFC 6749, 7009, 7662 and 8414 promise, the server does."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from django.core.cache import cache

from partners.oauth import token_cache
from tests.builders import make_client


@pytest.fixture
def server(live_server, settings, monkeypatch):
    """The live server as the issuer; authlib allows http for it (it insists on https)."""
    cache.clear()
    token_cache.local_tier.clear()
    settings.SITE_URL = live_server.url
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    return live_server.url


@pytest.fixture
def metadata(server) -> dict:
    return requests.get(f"{server}/.well-known/oauth-authorization-server", timeout=10).json()


def session(client, *, secret: str | None = None, method: str = "client_secret_basic"):
    return OAuth2Session(
        client_id=client.pk,
        client_secret=secret or client.secret,
        token_endpoint_auth_method=method,
    )


@pytest.mark.django_db(transaction=True)
def test_the_metadata_passes_authlibs_rfc8414_validator(metadata, server):
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["issuer"] == server
    assert metadata["response_types_supported"] == ["code"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_every_advertised_client_authentication_works_at_every_endpoint(metadata, method):
    """Each method the metadata lists for an endpoint is one that endpoint accepts."""
    assert method in metadata["token_endpoint_auth_methods_supported"]
    assert method in metadata["introspection_endpoint_auth_methods_supported"]
    assert method in metadata["revocation_endpoint_auth_methods_supported"]
    partner_client = make_client(scopes="partner:read")
    oauth = OAuth2Session(
        client_id=partner_client.pk,
        client_secret=partner_client.secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )
    token = oauth.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["scope"] == "partner:read"
    assert oauth.get(f"{metadata['issuer']}/api/v1/partner", timeout=10).status_code == 200

    answer = oauth.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert answer.status_code == 200 and answer.json()["active"] is True

    revoked = oauth.revoke_token(metadata["revocation_endpoint"], token=token["access_token"])
    assert revoked.status_code == 200
    assert revoked.headers["Content-Type"] == "application/json" and revoked.json() == {}
    again = oauth.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert again.json() == {"active": False}


@pytest.mark.django_db(transaction=True)
def test_introspection_without_client_credentials_is_401_invalid_client(metadata):
    response = requests.post(metadata["introspection_endpoint"], data={"token": "x"}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_introspection_with_a_wrong_secret_is_401_invalid_client(metadata, method):
    oauth = session(make_client(), secret="not-the-secret", method=method)
    response = oauth.introspect_token(metadata["introspection_endpoint"], token="x")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("endpoint", ["token_endpoint", "revocation_endpoint"])
def test_a_wrong_secret_over_basic_is_challenged_in_basic(metadata, endpoint):
    """RFC 6749 §5.2: the challenge names the scheme the client used, not Bearer."""
    partner_client = make_client()
    response = requests.post(
        metadata[endpoint],
        data={"grant_type": "client_credentials", "token": "x"},
        auth=(partner_client.pk, "not-the-secret"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.django_db(transaction=True)
def test_authlib_raises_invalid_client_for_a_wrong_secret(metadata):
    from authlib.integrations.base_client import OAuthError

    oauth = session(make_client(), secret="not-the-secret")
    with pytest.raises(OAuthError) as refused:
        oauth.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("which", ["revoked", "unknown"])
def test_a_revoked_or_unknown_token_on_the_api_is_invalid_token(metadata, which):
    partner_client = make_client(scopes="partner:read")
    oauth = session(partner_client)
    token = oauth.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    if which == "revoked":
        oauth.revoke_token(metadata["revocation_endpoint"], token=token["access_token"])
    else:
        oauth.token = {**token, "access_token": "never-issued"}
    response = oauth.get(f"{metadata['issuer']}/api/v1/partner", timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
