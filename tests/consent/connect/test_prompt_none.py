"""prompt=none (OpenID Connect Core 3.1.2.6): never a page. The app hears login_required,
consent_required or interaction_required on its redirect URI, or gets a code at once when
the customer is signed in and the consents this app holds already cover the request."""

from __future__ import annotations

import pytest
from django.test import Client

from consent.connect.models import ConnectAuthorization
from consent.connect.services import connect_disconnect
from consent.models import Consent, ConsentReceipt
from consent.services.consents import consent_withdraw
from tests.builders import make_admin
from tests.consent.connect.support import REDIRECT, AuthorizeRequest, query_of, token_request

pytestmark = pytest.mark.django_db
SCOPE = "openid email profile partner:read"


def _silent(client: Client, world, scope: str = SCOPE, **extra: str):
    req = AuthorizeRequest(world.client, scope=scope, extra={"prompt": "none", **extra})
    return req, client.get(req.url)


def _approve_on_the_screen(client: Client, world, scope: str = SCOPE, **ticks):
    req = AuthorizeRequest(world.client, scope=scope)
    response = client.post(
        req.url, {"answer": "approve", **(ticks or {"ask_0": ["contact.email"]})}
    )
    assert response.status_code == 302 and "code=" in response["Location"]


def _error_on_redirect(response, req: AuthorizeRequest, settings) -> str:
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT + "?")
    answer = query_of(response["Location"])
    assert answer["state"] == req.state and answer["iss"] == settings.SITE_URL
    assert "code" not in answer
    return answer["error"]


def test_not_signed_in_is_login_required_on_the_redirect_uri(client, world, settings):
    req, response = _silent(client, world)

    assert _error_on_redirect(response, req, settings) == "login_required"


def test_not_signed_in_with_an_unregistered_redirect_uri_is_never_redirected(client, world):
    req = AuthorizeRequest(
        world.client, redirect_uri="https://evil.example/cb", extra={"prompt": "none"}
    )

    response = client.get(req.url)

    assert response.status_code == 400 and "evil.example" not in response.get("Location", "")


def test_not_signed_in_without_state_hears_the_invalid_request_first(client, world, settings):
    req = AuthorizeRequest(world.client, state=None, extra={"prompt": "none"})

    response = client.get(req.url)

    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"


def test_signed_in_without_an_earlier_approval_is_consent_required(client, world, settings):
    client.force_login(world.ben.user)

    req, response = _silent(client, world)

    assert _error_on_redirect(response, req, settings) == "consent_required"
    assert not ConnectAuthorization.objects.exists() and not Consent.objects.exists()


def test_signed_in_with_covering_consents_gets_a_code_silently(client, world, settings):
    # Given: Ben approved this app before, leaving only his email ticked.
    client.force_login(world.ben.user)
    _approve_on_the_screen(client, world)
    consents, receipts = Consent.objects.count(), ConsentReceipt.objects.count()

    # When: the app asks again with prompt=none.
    req, response = _silent(client, world)

    # Then: a code at once, bound to the same consents; nothing new granted or signed.
    answer = query_of(response["Location"])
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT + "?")
    assert answer["state"] == req.state and answer["iss"] == settings.SITE_URL
    tokens = token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=answer["code"],
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    ).json()
    claims = client.get(
        "/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    ).json()
    assert set(claims) == {"sub", "email"}  # his earlier choice stands: no name
    assert (Consent.objects.count(), ConsentReceipt.objects.count()) == (consents, receipts)
    latest = ConnectAuthorization.objects.order_by("-created_at").first()
    assert set(latest.consents.values_list("pk", flat=True)) == set(
        Consent.objects.values_list("pk", flat=True)
    )


def test_a_scope_never_approved_before_is_consent_required(client, world, settings):
    client.force_login(world.ben.user)
    _approve_on_the_screen(client, world, scope="openid email")

    req, response = _silent(client, world, scope="openid email profile")

    assert _error_on_redirect(response, req, settings) == "consent_required"


def test_after_disconnecting_it_is_consent_required(client, world, settings):
    client.force_login(world.ben.user)
    _approve_on_the_screen(client, world)
    connect_disconnect(customer=world.ben, client_id=world.client.pk)

    req, response = _silent(client, world)

    assert _error_on_redirect(response, req, settings) == "consent_required"


def test_after_a_consent_is_withdrawn_it_is_consent_required(client, world, settings):
    client.force_login(world.ben.user)
    _approve_on_the_screen(
        client,
        world,
        scope=SCOPE + " share:rewards:harbor-mutual",
        ask_0=["contact.email"],
        ask_1=["activity.visits"],
    )
    rewards = Consent.objects.get(purpose_id="rewards")
    consent_withdraw(consent=rewards, customer=world.ben)

    req, response = _silent(client, world, scope=SCOPE + " share:rewards:harbor-mutual")

    assert _error_on_redirect(response, req, settings) == "consent_required"


def test_a_staff_session_is_interaction_required(client, world, settings):
    client.force_login(make_admin())

    req, response = _silent(client, world)

    assert _error_on_redirect(response, req, settings) == "interaction_required"


def test_none_with_another_prompt_value_is_invalid_request(client, world):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope=SCOPE, extra={"prompt": "none login"})

    response = client.get(req.url)

    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_request"


def test_a_flow_no_partnership_allows_is_invalid_scope_without_a_page(client, world, settings):
    client.force_login(world.ben.user)

    req, response = _silent(client, world, scope="openid share:rewards:fresh-basket")

    assert _error_on_redirect(response, req, settings) == "invalid_scope"


def test_discovery_advertises_prompt_none(client):
    body = client.get("/.well-known/openid-configuration").json()

    assert "none" in body["prompt_values_supported"]
