"""The connect flow's revocation on PostgreSQL, with real commits and another thread: a
withdrawal committed elsewhere refuses the warm token on the next request, and a token
issued while a withdrawal is in flight either commits first (and is revoked by it) or sees
the consent ended and is refused."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test import Client
from oauth2_provider.models import AccessToken

from consent.models import Consent
from consent.services.consents import consent_withdraw
from partners.oauth import token_cache
from tests.builders import api_client_for
from tests.conftest import seed_taxonomy
from tests.consent.connect.support import AuthorizeRequest, query_of, token_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pg_world(postgresql, request):
    seed_taxonomy()
    return request.getfixturevalue("world")


def _code(client, world):
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope="openid email partner:read")
    response = client.post(req.url, {"answer": "approve", "ask_0": ["contact.email"]})
    return req, query_of(response["Location"])["code"]


def _exchange(client, world, req, code):
    return token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    )


def test_a_withdrawal_committed_in_another_thread_refuses_the_warm_token(pg_world):
    client = Client()
    req, code = _code(client, pg_world)
    tokens = _exchange(client, pg_world, req, code).json()
    api = api_client_for(tokens["access_token"])
    assert api.get("/api/v1/partner").status_code == 200  # warm

    def withdraw() -> None:
        try:
            consent = Consent.objects.get(purpose_id="link")
            consent_withdraw(consent=consent, customer=pg_world.ben)
        finally:
            connection.close()

    thread = threading.Thread(target=withdraw)
    thread.start()
    thread.join()
    token_cache.pending_invalidations.forget()  # this process's view is a second old
    assert api.get("/api/v1/partner").status_code == 401
    refresh = token_request(
        client, pg_world.client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refresh.status_code == 400
    assert not AccessToken.objects.exists()


def test_a_code_exchanged_while_the_consent_is_withdrawn_gets_no_live_token(pg_world):
    client = Client()
    req, code = _code(client, pg_world)
    consent = Consent.objects.get(purpose_id="link")
    locked, release = threading.Event(), threading.Event()

    def withdraw_slowly() -> None:
        try:
            with transaction.atomic():
                Consent.objects.select_for_update(no_key=True).get(pk=consent.pk)
                locked.set()
                release.wait(timeout=10)
                consent_withdraw(consent=consent, customer=pg_world.ben)
        finally:
            connection.close()

    thread = threading.Thread(target=withdraw_slowly)
    thread.start()
    assert locked.wait(timeout=10)
    result: dict = {}

    def exchange() -> None:
        try:
            result["response"] = _exchange(Client(), pg_world, req, code)
        finally:
            connection.close()

    exchanger = threading.Thread(target=exchange)
    exchanger.start()
    exchanger.join(timeout=1)  # it waits on the withdrawal's lock (FOR SHARE) or is refused
    release.set()
    thread.join()
    exchanger.join(timeout=20)
    response = result["response"]
    # Either way, no token survives the withdrawal.
    assert response.status_code in (200, 400)
    assert not AccessToken.objects.exists()
