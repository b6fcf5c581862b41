"""The portal's connected apps: listed with what they may do, disconnected with their
consents withdrawn and tokens revoked; the history shows the connect approvals."""

from __future__ import annotations

import pytest
from oauth2_provider.models import AccessToken

from consent.models import Consent
from tests.consent.connect.support import AuthorizeRequest, query_of, token_request

pytestmark = pytest.mark.django_db


def _connected(client, world, scope="openid email partner:read", **ticks):
    client.force_login(world.ben.user, backend="consent.auth.CustomerEmailBackend")
    req = AuthorizeRequest(world.client, scope=scope)
    response = client.post(
        req.url, {"answer": "approve", **(ticks or {"ask_0": ["contact.email"]})}
    )
    code = query_of(response["Location"])["code"]
    return token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    ).json()


def test_connected_apps_lists_the_brand_and_what_it_may_do(
    client, world, django_assert_max_num_queries
):
    _connected(client, world)
    with django_assert_max_num_queries(10):
        response = client.get("/apps/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Pulse Fitness" in page and "Website sign-in" in page
    assert "so it can sign you in with your ecosystem account" in page
    assert "<li>Your email address</li>" in page
    assert "Pulse Fitness may know that you use the ecosystem" in page
    assert "Disconnect Pulse Fitness" in page


def test_connected_apps_show_the_claims_released_not_the_scopes_asked(client, world):
    # Given: the app asked for email and profile and a sharing; Ben left only his name.
    _connected(
        client,
        world,
        scope="openid email profile partner:read share:rewards:harbor-mutual",
        ask_0=["contact.name"],
        ask_1=["activity.visits"],
    )

    page = client.get("/apps/").content.decode()

    # Then: what it receives, and what he agreed to, in plain words; no scope strings.
    assert "<li>Your name</li>" in page and "Your email address" not in page
    assert (
        "Pulse Fitness may share your visits with Harbor Mutual so Harbor Mutual can reward you"
        in page
    )
    assert "visits and purchases" not in page  # the unticked category is not claimed
    for raw in ("share:rewards", "partner:read", "openid", "profile", "Read this partner"):
        assert raw not in page


def test_an_app_given_no_contact_details_is_said_to_receive_none(client, world):
    _connected(client, world, scope="openid email profile", ask_0=[])

    page = client.get("/apps/").content.decode()

    assert "Your name" not in page and "Your email address" not in page
    assert "Not your name or email address" in page


def test_the_consent_screen_points_to_connected_apps_for_disconnecting(client, world):
    client.force_login(world.ben.user, backend="consent.auth.CustomerEmailBackend")

    page = client.get(AuthorizeRequest(world.client).url).content.decode()

    sentence = page.split("unless you withdraw sooner.")[1].split("</p>")[0]
    assert 'from <a href="/apps/">Connected apps</a>' in sentence and "My brands" not in sentence


def test_disconnecting_withdraws_the_consents_and_revokes_the_tokens(client, world):
    _connected(client, world)
    confirm = client.get(f"/apps/{world.client.pk}/disconnect/")
    assert confirm.status_code == 200 and "withdrawn" in confirm.content.decode()
    response = client.post(f"/apps/{world.client.pk}/disconnect/", {"confirm": "1"})
    assert response.status_code == 302 and response["Location"] == "/apps/"
    assert set(Consent.objects.values_list("status", flat=True)) == {"withdrawn"}
    assert not AccessToken.objects.exists()
    assert "You have not connected any app" in client.get("/apps/").content.decode()


def test_another_customers_app_is_not_found(client, world):
    from tests.builders import make_customer

    _connected(client, world)
    client.force_login(make_customer().user, backend="consent.auth.CustomerEmailBackend")
    assert client.post(f"/apps/{world.client.pk}/disconnect/").status_code == 404
    assert Consent.objects.filter(status="active").count() == 1


def test_history_shows_the_connect_approval_with_its_receipt(client, world):
    _connected(client, world)
    page = client.get("/history/").content.decode()
    assert "on Pulse Fitness&#x27;s connect screen" in page or "on Pulse Fitness's connect" in page
    assert ".jws" in page
