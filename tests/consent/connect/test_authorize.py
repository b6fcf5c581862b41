"""The authorization endpoint and its consent screen, through Django's test client."""

from __future__ import annotations

import pytest
from oauth2_provider.models import AccessToken, Grant

from consent.connect.models import ConnectAuthorization
from consent.models import Consent, ConsentEvent, PartnerLink
from tests.consent.connect.support import REDIRECT, AuthorizeRequest, query_of, token_request

pytestmark = pytest.mark.django_db

SHARE = "share:rewards:harbor-mutual"


def _approve(client, req: AuthorizeRequest, **fields):
    data = {"answer": "approve", **fields}
    return client.post(req.url, data)


def test_signed_out_customer_is_sent_to_sign_in_and_back(client, world):
    req = AuthorizeRequest(world.client)
    response = client.get(req.url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_consent_screen_names_partner_purposes_categories_notice_and_duration(client, world):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope=f"openid email profile {SHARE}")
    response = client.get(req.url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pulse Fitness wants to connect" in page
    assert "share your activity with Harbor Mutual" in page
    assert "Visits" in page and "Purchases" in page and "Email address" in page
    assert "SHA-256" in page and "Until" in page
    assert not Consent.objects.exists() and not Grant.objects.exists()


def test_approving_links_consents_and_redirects_with_code_state_and_iss(client, world, settings):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope=f"openid email {SHARE}")
    response = _approve(client, req, ask_0=["contact.email"], ask_1=["activity.visits"])
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(REDIRECT + "?")
    answer = query_of(response["Location"])
    assert answer["state"] == req.state and answer["code"]
    assert answer["iss"] == settings.SITE_URL
    link = PartnerLink.objects.get(customer=world.ben, partner=world.pulse)
    assert link.status == "active" and link.method == "connect"
    consents = Consent.objects.filter(customer=world.ben).order_by("purpose_id")
    assert [(c.purpose_id, c.status, c.method, c.data_categories) for c in consents] == [
        ("link", "active", "connect", ["contact.email"]),
        ("rewards", "active", "connect", ["activity.visits"]),
    ]
    assert ConsentEvent.objects.filter(consent__in=consents, to_status="active").count() == 2
    authorization = ConnectAuthorization.objects.get()
    assert authorization.grant is not None and set(authorization.consents.all()) == set(consents)


def test_unticking_everything_of_a_sharing_is_an_error_next_to_it(client, world):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope=f"openid {SHARE}")
    response = _approve(client, req)
    assert response.status_code == 400
    assert "Tick at least one item" in response.content.decode()
    assert not Consent.objects.exists() and not PartnerLink.objects.exists()


def test_refusing_records_it_and_redirects_access_denied(client, world):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client)
    response = client.post(req.url, {"answer": "refuse"})
    assert response.status_code == 302
    answer = query_of(response["Location"])
    assert answer["error"] == "access_denied" and answer["state"] == req.state
    assert ConnectAuthorization.objects.get().outcome == "refused"
    assert not Consent.objects.exists() and not Grant.objects.exists()


def test_code_exchange_with_the_verifier_issues_bound_tokens(client, world):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope="openid email")
    code = query_of(_approve(client, req, ask_0=["contact.email"])["Location"])["code"]
    response = token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=req.verifier,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["access_token"] and body["refresh_token"] and body["id_token"]
    token = AccessToken.objects.get()
    assert token.user == world.ben.user
    assert token.connect.authorization.consents.count() == 1


def test_an_existing_portal_consent_for_the_flow_becomes_a_connect_one(client, world):
    from consent.services.consents import consent_grant
    from partners.models import Purpose

    old = consent_grant(
        customer=world.ben,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=world.pulse.pk,
        recipient_id=world.harbor.pk,
        data_categories=["activity.visits"],
    )
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope=f"openid {SHARE}")
    response = _approve(client, req, ask_1=["activity.visits"])
    assert response.status_code == 302, response.content
    old.refresh_from_db()
    new = Consent.objects.get(purpose_id="rewards", status="active")
    assert old.status == "superseded" and new.method == "connect" and new.supersedes == old
    assert new in ConnectAuthorization.objects.get().consents.all()


def test_a_pending_request_for_the_flow_is_approved_on_the_connect_screen(client, world):
    from tests.builders import make_consent, make_link

    make_link(world.ben, world.pulse)
    request = make_consent(
        world.ben,
        world.pulse,
        world.harbor,
        purpose="rewards",
        status="requested",
        categories=("activity.visits",),
        partnership=world.partnership,
    )
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope=f"openid {SHARE}")
    response = _approve(client, req, ask_1=["activity.visits"])
    assert response.status_code == 302, response.content
    request.refresh_from_db()
    assert request.status == "active" and request.method == "connect"
