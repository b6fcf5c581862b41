"""OpenID Connect discovery and keys: what a relying party's library reads first."""

from __future__ import annotations

import pytest
from jwcrypto import jwk, jws

from tests.consent.connect.support import AuthorizeRequest, query_of, token_request

pytestmark = pytest.mark.django_db


def test_discovery_advertises_code_pkce_s256_rs256_and_pairwise_subjects(client, settings):
    body = client.get("/.well-known/openid-configuration").json()
    assert body["issuer"] == settings.SITE_URL
    assert body["authorization_endpoint"].endswith("/o/authorize/")
    assert body["userinfo_endpoint"].endswith("/o/userinfo/")
    assert body["jwks_uri"].endswith("/o/jwks/")
    assert body["end_session_endpoint"].endswith("/o/logout/")
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]
    assert body["subject_types_supported"] == ["pairwise"]
    assert body["authorization_response_iss_parameter_supported"] is True


def test_jwks_publishes_the_signing_key_and_the_retired_one(client, settings):
    keys = client.get("/o/jwks/").json()["keys"]
    active = jwk.JWK.from_pem(settings.OIDC_RSA_PRIVATE_KEY.encode())
    retired = [jwk.JWK.from_pem(p.encode()) for p in settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]
    assert [k["kid"] for k in keys] == [active.thumbprint()] + [r.thumbprint() for r in retired]
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k for k in keys)


def test_the_id_token_is_signed_with_the_active_key(client, world, settings):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope="openid")
    code = query_of(client.post(req.url, {"answer": "approve"})["Location"])["code"]
    token = token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    ).json()
    signed = jws.JWS()
    signed.deserialize(token["id_token"])
    active = jwk.JWK.from_pem(settings.OIDC_RSA_PRIVATE_KEY.encode())
    assert signed.jose_header["alg"] == "RS256"
    assert signed.jose_header["kid"] == active.thumbprint()
    signed.verify(active)
    retired = jwk.JWK.from_pem(settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE[0].encode())
    with pytest.raises(jws.InvalidJWSSignature):
        signed.verify(retired)
