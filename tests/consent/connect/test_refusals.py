"""Every refusal of the connect flow: what the client hears (RFC 6749 §4.1.2.1, §5.2) and
that nothing was written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant

from consent.models import Consent, PartnerLink
from partners.services.clients import InvalidRedirectUri, connect_client_create
from tests.builders import make_client, make_partner
from tests.consent.connect.support import (
    LOOPBACK,
    REDIRECT,
    AuthorizeRequest,
    make_connect_client,
    query_of,
    token_request,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, world):
    client.force_login(world.ben.user)
    return client


def _code(client, req: AuthorizeRequest) -> str:
    response = client.post(req.url, {"answer": "approve", "ask_0": ["contact.email"]})
    assert response.status_code == 302, response.content
    return query_of(response["Location"])["code"]


def _exchange(client, world, req: AuthorizeRequest, code: str, **overrides: str):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": req.redirect_uri,
        "code_verifier": req.verifier,
        **overrides,
    }
    return token_request(client, overrides.pop("as_client", None) or world.client, **data)


def _nothing_written() -> None:
    assert not Consent.objects.exists()
    assert not PartnerLink.objects.exists()
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"challenge": None, "method": None}, "code challenge"),
        ({"method": "plain"}, "S256"),
        ({"method": None}, "S256"),
        ({"state": None}, "state is required"),
    ],
)
def test_authorize_without_pkce_s256_or_state_is_refused_to_the_client(
    signed_in, world, changes, description
):
    req = AuthorizeRequest(world.client, **changes)
    response = signed_in.get(req.url)
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT + "?")
    answer = query_of(response["Location"])
    assert answer["error"] == "invalid_request"
    assert description.lower() in answer["error_description"].lower()
    assert answer["iss"]
    _nothing_written()


def test_unregistered_redirect_uri_is_never_redirected_to(signed_in, world):
    req = AuthorizeRequest(world.client, redirect_uri="https://evil.example/callback")
    response = signed_in.get(req.url)
    assert response.status_code == 400
    assert "evil.example" not in response.get("Location", "")
    assert "invalid_request" in response.content.decode()
    _nothing_written()


def test_a_redirect_uri_differing_only_in_path_is_unregistered(signed_in, world):
    req = AuthorizeRequest(world.client, redirect_uri=REDIRECT + "/more")
    assert signed_in.get(req.url).status_code == 400


def test_unknown_client_id_is_shown_not_redirected(signed_in, world):
    req = AuthorizeRequest(world.client, extra={"client_id": "cli_doesnotexist"})
    response = signed_in.get(req.url)
    assert response.status_code in (400, 401)
    assert "Location" not in response
    _nothing_written()


def test_a_client_credentials_client_cannot_use_the_authorization_endpoint(signed_in, world):
    server_client = make_client(world.pulse)
    req = AuthorizeRequest(world.client, extra={"client_id": server_client.pk})
    response = signed_in.get(req.url)
    # Its redirect URI is not registered (it has none): shown to the customer, not sent.
    assert "Location" not in response or "code=" not in response["Location"]
    _nothing_written()


def test_scope_above_the_clients_ceiling_is_invalid_scope(signed_in, world):
    req = AuthorizeRequest(world.client, scope="openid webhooks:manage")
    response = signed_in.get(req.url)
    assert response.status_code == 302
    assert query_of(response["Location"])["error"] == "invalid_scope"
    _nothing_written()


def test_a_flow_no_partnership_allows_is_shown_to_the_customer(signed_in, world):
    req = AuthorizeRequest(world.client, scope="openid share:rewards:fresh-basket")
    response = signed_in.get(req.url)
    assert response.status_code == 400
    page = response.content.decode()
    assert "no partnership in the ecosystem allows that" in page
    assert "Back to Pulse Fitness" in page and "error=invalid_scope" in page
    _nothing_written()


def test_a_flow_disallowed_between_screen_and_answer_is_not_approved(signed_in, world):
    req = AuthorizeRequest(world.client, scope="openid share:rewards:harbor-mutual")
    assert signed_in.get(req.url).status_code == 200
    world.partnership.flows.all().delete()
    response = signed_in.post(req.url, {"answer": "approve", "ask_1": ["activity.visits"]})
    assert response.status_code == 400
    _nothing_written()


def test_wrong_verifier_is_invalid_grant(signed_in, world):
    req = AuthorizeRequest(world.client)
    code = _code(signed_in, req)
    response = _exchange(signed_in, world, req, code, code_verifier="x" * 50)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_a_code_is_single_use(signed_in, world):
    req = AuthorizeRequest(world.client)
    code = _code(signed_in, req)
    assert _exchange(signed_in, world, req, code).status_code == 200
    again = _exchange(signed_in, world, req, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()  # the first exchange's token ended with it


def test_an_expired_code_is_invalid_grant(signed_in, world):
    req = AuthorizeRequest(world.client)
    code = _code(signed_in, req)
    grant = Grant.objects.get()
    assert grant.expires <= timezone.now() + timedelta(seconds=60)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = _exchange(signed_in, world, req, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_another_partners_client_cannot_exchange_the_code(signed_in, world):
    req = AuthorizeRequest(world.client)
    code = _code(signed_in, req)
    other = make_connect_client(world.harbor)
    response = token_request(
        signed_in,
        other,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=req.verifier,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_another_partners_client_id_with_our_redirect_uri_is_not_redirected(signed_in, world):
    other = make_connect_client(world.harbor, redirect_uris=["https://harbor.example/cb"])
    req = AuthorizeRequest(other)  # Pulse's redirect URI under Harbor's client id
    response = signed_in.get(req.url)
    assert response.status_code == 400 and "Location" not in response


def test_the_code_is_refused_once_a_consent_behind_it_ended(signed_in, world):
    req = AuthorizeRequest(world.client)
    code = _code(signed_in, req)
    Consent.objects.update(status="withdrawn")
    response = _exchange(signed_in, world, req, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "uri",
    [
        "http://gym.example/callback",
        "https://gym.example/*",
        "https://gym.example/cb#frag",
        "gym.example/callback",
        "https://user@gym.example/cb",
    ],
)
def test_connect_client_redirect_uris_must_be_exact_https(world, uri):
    with pytest.raises(InvalidRedirectUri):
        connect_client_create(
            partner=world.pulse, name="x", scopes={"openid"}, redirect_uris=[uri], actor=None
        )


def test_loopback_http_redirects_only_when_the_setting_allows(world, settings):
    settings.CONNECT_LOOPBACK_REDIRECTS = True
    make_connect_client(world.pulse, redirect_uris=[LOOPBACK])
    settings.CONNECT_LOOPBACK_REDIRECTS = False
    with pytest.raises(InvalidRedirectUri):
        make_connect_client(world.pulse, redirect_uris=[LOOPBACK])


def test_connect_client_scopes_stay_within_the_ceiling(world):
    from partners.services.clients import ScopeNotAllowed

    narrow = make_partner(scope_ceiling="partner:read")
    with pytest.raises(ScopeNotAllowed):
        make_connect_client(narrow, scopes={"openid", "events:write"})
