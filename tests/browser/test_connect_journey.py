"""The connect flow end to end, as a partner's website and a customer would live it: an
independent OAuth library (authlib) drives discovery, the authorization request with PKCE,
the code exchange, ID-token validation against the JWKS and UserInfo against the live test
server, while a real Chromium signs the customer in and submits the consent screen. The
consent screen is photographed at desktop (1280 px) and phone (390 px) width into
$PORTAL_SCREENSHOTS (default: the test's tmp_path)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from playwright.sync_api import Page, Route, expect

from consent.models import Consent, PartnerLink
from tests.builders import make_customer, make_partner, make_partnership
from tests.consent.connect.support import make_connect_client

pytestmark = pytest.mark.services
CALLBACK = "http://127.0.0.1:8499/callback"
PASSWORD = "ben-portal-password-42"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_gym_website_connects_ben_and_loses_access_when_he_disconnects(
    live_server, page: Page, settings, screenshots: Path
) -> None:
    settings.SITE_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    settings.CONNECT_LOOPBACK_REDIRECTS = True
    pulse = make_partner(name="Pulse Fitness", slug="pulse-fitness", sector="fitness")
    harbor = make_partner(name="Harbor Mutual", slug="harbor-mutual", sector="insurance")
    make_partnership(pulse, harbor)
    connect = make_connect_client(
        pulse,
        scopes={"openid", "profile", "email", "partner:read", "consent:read"},
        redirect_uris=[CALLBACK],
    )
    make_customer(email="ben@customers.example", name="Ben Okafor", password=PASSWORD)

    # Given: the gym's website finds the gateway's endpoints by discovery.
    metadata = requests.get(f"{live_server.url}/.well-known/openid-configuration").json()
    assert metadata["issuer"] == live_server.url
    assert metadata["subject_types_supported"] == ["pairwise"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    session = OAuth2Session(
        connect.pk,
        connect.secret,
        scope="openid profile email partner:read consent:read share:rewards:harbor-mutual",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )

    # When: Ben follows the "Connect" button, signs in, and sees the consent screen.
    callbacks: list[str] = []

    def gym_callback(route: Route) -> None:
        callbacks.append(route.request.url)
        route.fulfill(status=200, body="Welcome back to Pulse Fitness", content_type="text/plain")

    page.route(re.compile(r"^http://127\.0\.0\.1:8499/.*"), gym_callback)
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_label(re.compile(r"^Email address")).fill("ben@customers.example")
    page.get_by_label(re.compile(r"^Password")).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Pulse Fitness wants to connect with your ecosystem account"
    )
    expect(page.get_by_text("share your activity with Harbor Mutual")).to_be_visible()
    page.screenshot(path=screenshots / "connect-consent-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "connect-consent-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # When: he unticks his name and his purchases, and approves.
    page.get_by_label("Name", exact=True).uncheck()
    page.get_by_label("Purchases", exact=True).uncheck()
    page.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page.get_by_text("Welcome back to Pulse Fitness")).to_be_visible(timeout=30_000)

    # Then: the website exchanges the code (with the verifier) for tokens.
    assert callbacks and "iss=" in callbacks[0] and f"state={state}" in callbacks[0]
    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callbacks[0], code_verifier=verifier
    )
    assert {"access_token", "refresh_token", "id_token"} <= set(token)

    # Then: the ID token verifies against the published JWKS (signature, iss, aud, nonce, exp).
    jwks = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"]).json())
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": connect.pk},
            "nonce": {"essential": True, "value": nonce},
            "exp": {"essential": True},
        },
    )
    claims.validate()
    link = PartnerLink.objects.get(partner=pulse)
    assert claims["sub"] == link.pk and claims["email"] == "ben@customers.example"
    assert "name" not in claims

    # Then: UserInfo releases only what he consented to; the API answers under the consent.
    userinfo = session.get(metadata["userinfo_endpoint"]).json()
    assert userinfo == {"sub": link.pk, "email": "ben@customers.example"}
    consents = session.get(f"{live_server.url}/api/v1/customers/{link.pk}/consents")
    assert consents.status_code == 200
    rewards = Consent.objects.get(purpose_id="rewards")
    assert rewards.data_categories == ["activity.visits"] and rewards.method == "connect"

    # When: Ben disconnects Pulse Fitness in the portal.
    page.goto(f"{live_server.url}/apps/")
    expect(page.get_by_role("heading", level=2)).to_contain_text("Pulse Fitness")
    page.screenshot(path=screenshots / "connected-apps.png", full_page=True)
    page.get_by_role("link", name="Disconnect Pulse Fitness").click()
    page.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_role("status")).to_contain_text("Pulse Fitness is disconnected")
    assert set(Consent.objects.values_list("status", flat=True)) == {"withdrawn"}

    # Then: the website's next API call and its refresh both fail.
    assert session.get(f"{live_server.url}/api/v1/partner").status_code == 401
    refreshed = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(connect.pk, connect.secret),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_a_new_person_creates_an_account_from_the_sign_in_step_and_connects(
    live_server, page: Page, settings, screenshots: Path, mailbox
) -> None:
    settings.SITE_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    settings.CONNECT_LOOPBACK_REDIRECTS = True
    pulse = make_partner(name="Pulse Fitness", slug="pulse-fitness", sector="fitness")
    connect = make_connect_client(
        pulse, scopes={"openid", "email", "partner:read"}, redirect_uris=[CALLBACK]
    )
    session = OAuth2Session(
        connect.pk,
        connect.secret,
        scope="openid email partner:read",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )
    metadata = requests.get(f"{live_server.url}/.well-known/openid-configuration").json()
    verifier = secrets.token_urlsafe(48)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    callbacks: list[str] = []

    def gym_callback(route: Route) -> None:
        callbacks.append(route.request.url)
        route.fulfill(status=200, body="Welcome to Pulse Fitness", content_type="text/plain")

    page.route(re.compile(r"^http://127\.0\.0\.1:8499/.*"), gym_callback)

    # Given: Nadia, who has no account, is sent to the gateway by the gym's website.
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    # When: she creates an account from the sign-in step and follows the emailed link.
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    page.screenshot(path=screenshots / "signup-1280.png", full_page=True)
    page.get_by_label(re.compile(r"^Email address")).fill("nadia@mail.example")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert len(mailbox) == 1 and mailbox[0].to == ["nadia@mail.example"]
    link = re.search(r"http://\S+/account/signup/\S+/", mailbox[0].body).group(0)
    page.goto(link)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "signup-password-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_label(re.compile(r"^New password")).fill("lighthouse-keeper-2031")
    page.get_by_label(re.compile(r"^Repeat the new password")).fill("lighthouse-keeper-2031")
    page.get_by_role("button", name="Create my account").click()

    # Then: she is signed in, back on the same request's consent screen; approving connects.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Pulse Fitness wants to connect with your ecosystem account"
    )
    page.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page.get_by_text("Welcome to Pulse Fitness")).to_be_visible(timeout=30_000)
    assert callbacks and f"state={state}" in callbacks[0]
    token = session.fetch_token(
        metadata["token_endpoint"], authorization_response=callbacks[0], code_verifier=verifier
    )
    userinfo = session.get(metadata["userinfo_endpoint"]).json()
    assert userinfo == {
        "sub": PartnerLink.objects.get(partner=pulse).pk,
        "email": "nadia@mail.example",
    }
    assert "id_token" in token
