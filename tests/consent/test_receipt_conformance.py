"""A consent receipt as a Kantara CR v1.1 / ISO/IEC TS 27560 reader meets it: fetched over
HTTP from the live server, verified with jwcrypto and nothing of ours but the published JWKS."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
import requests
from django.urls import resolve
from jwcrypto import jwk, jws

from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

# Kantara Consent Receipt Specification v1.1, fields marked MUST.
KANTARA_REQUIRED = [
    "version",
    "jurisdiction",
    "consentTimestamp",
    "collectionMethod",
    "consentReceiptID",
    "piiPrincipalId",
    "piiControllers",
    "policyUrl",
    "services",
    "sensitive",
    "spiCat",
]
CONTROLLER_REQUIRED = ["piiController", "contact", "address", "email", "phone"]
PURPOSE_REQUIRED = [
    "purpose",
    "purposeCategory",
    "consentType",
    "piiCategory",
    "primaryPurpose",
    "termination",
    "thirdPartyDisclosure",
]


def verified_claims(token: str, jwks: dict) -> dict:
    """Verify as any JOSE user would: EdDSA only, the key picked by kid from the JWKS."""
    header = json.loads(jws.base64url_decode(token.split(".")[0]))
    assert header["alg"] == "EdDSA" and header["typ"] == "consent-receipt+jwt"
    key = jwk.JWKSet.from_json(json.dumps(jwks)).get_key(header["kid"])
    parsed = jws.JWS()
    parsed.allowed_algs = ["EdDSA"]
    parsed.deserialize(token)
    parsed.verify(key)
    return json.loads(parsed.payload)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_a_partners_receipt_verifies_with_jwcrypto_and_has_every_required_field(
    live_server, settings
):
    settings.SITE_URL = live_server.url
    gym = make_partner(name="Pulse Fitness", privacy_notice_url="https://pulse.example/privacy")
    insurer = make_partner(name="Harbor Mutual")
    make_partnership(gym, insurer, purpose="rewards", categories=("activity.visits",))
    customer = make_customer()
    link = make_link(customer, gym)
    make_link(customer, insurer)
    api = make_api(gym, scopes="consent:request")

    response = requests.post(
        f"{live_server.url}/api/v1/consent-requests",
        json={
            "customer_id": link.pk,
            "recipient": insurer.pk,
            "purpose": "rewards",
            "data_categories": ["activity.visits"],
            "message": "Cheaper premiums for your gym visits.",
        },
        headers={"Authorization": api._credentials["HTTP_AUTHORIZATION"]},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    consent_id = response.json()["id"]
    jwks = requests.get(f"{live_server.url}/.well-known/jwks.json", timeout=10).json()
    claims = verified_claims(response.json()["receipt"], jwks)

    assert [name for name in KANTARA_REQUIRED if claims.get(name) in (None, "")] == []
    assert claims["piiPrincipalId"] == link.pk
    assert claims["policyUrl"] == "https://pulse.example/privacy"  # the controller's notice
    by_name = {c["piiController"]: c for c in claims["piiControllers"]}
    assert set(by_name) == {"Pulse Fitness", "Harbor Mutual"}
    for partner in (gym, insurer):
        entry = by_name[partner.name]
        assert [name for name in CONTROLLER_REQUIRED if not entry.get(name)] == []
        assert "url" not in entry
        assert (entry["address"], entry["phone"]) == (partner.address, partner.phone)
        assert entry["piiControllerUrl"] == partner.website
        assert entry["policyUrl"] == partner.privacy_notice_url
    (purpose,) = claims["services"][0]["purposes"]
    assert [name for name in PURPOSE_REQUIRED if purpose.get(name) in (None, "")] == []
    assert purpose["legalBasis"] == "consent"
    assert set(purpose["retention"]) == {"until", "criteria"} and purpose["retention"]["criteria"]

    review, withdraw = claims["consent"]["review_url"], claims["consent"]["withdraw_url"]
    assert review.startswith(live_server.url) and withdraw.startswith(live_server.url)
    assert resolve(urlparse(review).path).url_name == "request"
    assert resolve(urlparse(review).path).kwargs == {"consent_id": consent_id}
    assert resolve(urlparse(withdraw).path).url_name == "consent-withdraw"
    assert resolve(urlparse(withdraw).path).kwargs == {"consent_id": consent_id}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_a_forged_receipt_is_refused_by_jwcrypto(live_server, settings):
    settings.SITE_URL = live_server.url
    gym = make_partner()
    customer = make_customer()
    link = make_link(customer, gym)
    api = make_api(gym, scopes="consent:request")
    response = requests.post(
        f"{live_server.url}/api/v1/consent-requests",
        json={"customer_id": link.pk, "purpose": "link", "message": "Stay in touch."},
        headers={"Authorization": api._credentials["HTTP_AUTHORIZATION"]},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    head, payload, signature = response.json()["receipt"].split(".")
    claims = json.loads(jws.base64url_decode(payload))
    claims["piiPrincipalId"] = "cus_someone_else"
    forged = ".".join([head, jws.base64url_encode(json.dumps(claims)), signature])
    jwks = requests.get(f"{live_server.url}/.well-known/jwks.json", timeout=10).json()
    with pytest.raises(jws.InvalidJWSSignature):
        verified_claims(forged, jwks)
