"""Tokens from the connect flow: bound to their consents, revoked when one ends, refreshed
with rotation and reuse detection, introspected with their consent ids, and the OpenID
identity with a pairwise sub and claims only under consent."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from consent.connect.services import connect_disconnect
from consent.models import AccessEvent, Consent, PartnerLink
from consent.services.consents import consent_withdraw
from partners.oauth import token_cache
from tests.builders import api_client_for
from tests.consent.connect.support import (
    AuthorizeRequest,
    make_connect_client,
    query_of,
    token_request,
)

pytestmark = pytest.mark.django_db


def _connect(
    client,
    world,
    *,
    scope="openid email profile partner:read consent:read",
    client_app=None,
    **ticks,
):
    client_app = client_app or world.client
    client.force_login(world.ben.user)
    req = AuthorizeRequest(client_app, scope=scope)
    fields = ticks or {"ask_0": ["contact.email", "contact.name"]}
    response = client.post(req.url, {"answer": "approve", **fields})
    assert response.status_code == 302, response.content
    code = query_of(response["Location"])["code"]
    response = token_request(
        client,
        client_app,
        grant_type="authorization_code",
        code=code,
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    )
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(client, world, refresh_token: str):
    return token_request(
        client, world.client, grant_type="refresh_token", refresh_token=refresh_token
    )


def _api(raw: str):
    return api_client_for(raw).get("/api/v1/partner")


def _userinfo(client, raw: str):
    return client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_the_access_token_calls_the_api_as_the_partner(client, world):
    tokens = _connect(client, world)
    response = _api(tokens["access_token"])
    assert response.status_code == 200 and response.json()["id"] == world.pulse.pk


def test_withdrawing_in_the_portal_revokes_access_and_refresh_on_the_next_call(
    client, world, django_capture_on_commit_callbacks
):
    tokens = _connect(client, world)
    assert _api(tokens["access_token"]).status_code == 200  # warm in the token cache
    link_consent = Consent.objects.get(purpose_id="link")
    with django_capture_on_commit_callbacks(execute=True):
        consent_withdraw(consent=link_consent, customer=world.ben)
    assert _api(tokens["access_token"]).status_code == 401
    assert _refresh(client, world, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_disconnecting_withdraws_the_connect_consents_and_revokes(client, world):
    tokens = _connect(
        client,
        world,
        scope="openid email partner:read share:rewards:harbor-mutual",
        ask_0=["contact.email"],
        ask_1=["activity.visits"],
    )
    assert connect_disconnect(customer=world.ben, client_id=world.client.pk) == 2
    assert set(Consent.objects.values_list("status", flat=True)) == {"withdrawn"}
    assert _api(tokens["access_token"]).status_code == 401
    assert _refresh(client, world, tokens["refresh_token"]).status_code == 400


def test_partner_offboarding_ends_the_tokens(client, world):
    from partners.services.partners import partner_offboard

    tokens = _connect(client, world)
    partner_offboard(partner=world.pulse, actor=None, reason="Left the ecosystem.")
    assert _api(tokens["access_token"]).status_code == 401
    assert _refresh(client, world, tokens["refresh_token"]).status_code in (400, 401)


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(client, world):
    tokens = _connect(client, world)
    first = _refresh(client, world, tokens["refresh_token"])
    assert first.status_code == 200, first.content
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert _api(rotated["access_token"]).status_code == 200
    reused = _refresh(client, world, tokens["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # Reuse detection: the whole family is revoked, the rotated one included.
    assert _refresh(client, world, rotated["refresh_token"]).status_code == 400
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_a_token_never_outlives_its_shortest_consent(client, world):
    tokens = _connect(client, world)
    soon = timezone.now() + timedelta(seconds=90)
    Consent.objects.filter(purpose_id="link").update(expires_at=soon)
    refreshed = _refresh(client, world, tokens["refresh_token"]).json()
    assert refreshed["expires_in"] <= 90
    token = AccessToken.objects.get(
        token_checksum=token_cache.checksum_of(refreshed["access_token"])
    )
    assert token.expires <= soon


def _introspect(client, client_app, raw: str):
    basic = base64.b64encode(f"{client_app.pk}:{client_app.secret}".encode()).decode()
    return client.post("/o/introspect/", {"token": raw}, HTTP_AUTHORIZATION=f"Basic {basic}")


def test_introspection_returns_the_consent_ids_to_the_tokens_own_client_only(client, world):
    tokens = _connect(client, world)
    mine = _introspect(client, world.client, tokens["access_token"]).json()
    consent = Consent.objects.get()
    assert mine["active"] is True and mine["consent_ids"] == [consent.pk]
    other = make_connect_client(world.harbor)
    assert _introspect(client, other, tokens["access_token"]).json() == {"active": False}


def test_userinfo_sub_is_the_partners_pairwise_id_and_claims_follow_consent(client, world):
    tokens = _connect(client, world, ask_0=["contact.email"])  # name unticked
    claims = _userinfo(client, tokens["access_token"]).json()
    link = PartnerLink.objects.get(partner=world.pulse, customer=world.ben)
    assert claims == {"sub": link.pk, "email": "ben@customers.example"}
    logged = AccessEvent.objects.filter(customer_id=world.ben.pk, partner=world.pulse)
    assert any("contact.email" in event.fields for event in logged)
    assert not any("contact.name" in event.fields for event in logged)


def test_claims_are_withheld_without_a_consent_covering_them(client, world):
    tokens = _connect(client, world, ask_0=[])  # nothing ticked: the link alone
    claims = _userinfo(client, tokens["access_token"]).json()
    assert set(claims) == {"sub"}


def test_pairwise_sub_differs_between_partners_and_equals_each_cus_id(client, world):
    harbor_client = make_connect_client(world.harbor)
    pulse = _connect(client, world)
    harbor = _connect(client, world, client_app=harbor_client)
    pulse_sub = _userinfo(client, pulse["access_token"]).json()["sub"]
    harbor_sub = _userinfo(client, harbor["access_token"]).json()["sub"]
    assert pulse_sub != harbor_sub
    assert pulse_sub.startswith("cus_") and harbor_sub.startswith("cus_")
    assert pulse_sub == PartnerLink.objects.get(partner=world.pulse).pk
    assert harbor_sub == PartnerLink.objects.get(partner=world.harbor).pk
    # On the API the same id names the customer for that partner.
    response = api_client_for(pulse["access_token"]).get(f"/api/v1/customers/{pulse_sub}/consents")
    assert response.status_code == 200
    response = api_client_for(pulse["access_token"]).get(f"/api/v1/customers/{harbor_sub}/consents")
    assert response.status_code == 404


def test_a_suspended_partners_connect_token_is_refused_by_userinfo(client, world):
    tokens = _connect(client, world)
    world.pulse.status = "suspended"
    world.pulse.save()
    assert _userinfo(client, tokens["access_token"]).status_code in (401, 403)
