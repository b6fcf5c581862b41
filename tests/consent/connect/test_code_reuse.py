"""A used authorization code presented again: refused, and the tokens already issued from it
stop working on the next request (RFC 6749 §4.1.2, RFC 9700 §4.2.4)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from oauth2_provider.models import AccessToken, RefreshToken

from ecosystem.models import AuditEntry
from tests.builders import api_client_for
from tests.consent.connect.support import AuthorizeRequest, query_of, token_request

pytestmark = pytest.mark.django_db


def _code(client: Client, world) -> tuple[str, AuthorizeRequest]:
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope="openid email partner:read")
    response = client.post(req.url, {"answer": "approve", "ask_0": ["contact.email"]})
    return query_of(response["Location"])["code"], req


def _exchange(client: Client, world, code: str, req: AuthorizeRequest):
    return token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    )


def _api(raw: str):
    return api_client_for(raw).get("/api/v1/partner")


def _refresh(client: Client, world, raw: str):
    return token_request(client, world.client, grant_type="refresh_token", refresh_token=raw)


def test_a_reused_code_is_refused_and_ends_the_tokens_issued_from_it(
    client, world, django_capture_on_commit_callbacks
):
    # Given: a code exchanged once, its access token used (so the token cache holds it).
    code, req = _code(client, world)
    tokens = _exchange(client, world, code, req).json()
    assert _api(tokens["access_token"]).status_code == 200

    # When: the same code is presented again (an attacker who intercepted it, say).
    with django_capture_on_commit_callbacks(execute=True):  # the token cache's invalidation
        again = _exchange(client, world, code, req)

    # Then: refused, and the first exchange's tokens stop working on the next request.
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _api(tokens["access_token"]).status_code == 401
    userinfo = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.status_code == 401
    assert _refresh(client, world, tokens["refresh_token"]).status_code == 400
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
    assert AuditEntry.objects.filter(action="connect.code_reuse").count() == 1


def test_tokens_refreshed_before_the_reuse_end_too(
    client, world, django_capture_on_commit_callbacks
):
    code, req = _code(client, world)
    tokens = _exchange(client, world, code, req).json()
    rotated = _refresh(client, world, tokens["refresh_token"]).json()
    assert _api(rotated["access_token"]).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        _exchange(client, world, code, req)

    assert _api(rotated["access_token"]).status_code == 401
    assert _refresh(client, world, rotated["refresh_token"]).status_code == 400


def test_a_reuse_ends_only_the_tokens_of_that_code(
    client, world, django_capture_on_commit_callbacks
):
    code, req = _code(client, world)
    first = _exchange(client, world, code, req).json()
    other_code, other_req = _code(client, world)
    other = _exchange(client, world, other_code, other_req).json()
    assert _api(first["access_token"]).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        _exchange(client, world, code, req)

    assert _api(first["access_token"]).status_code == 401
    assert _api(other["access_token"]).status_code == 200
    assert _refresh(client, world, other["refresh_token"]).status_code == 200


def test_a_wrong_or_unused_code_ends_nothing(client, world):
    code, req = _code(client, world)
    tokens = _exchange(client, world, code, req).json()

    wrong = _exchange(client, world, "not-a-code-we-issued", req)
    pending, pending_req = _code(client, world)
    bad_verifier = token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=pending,
        redirect_uri=pending_req.redirect_uri,
        code_verifier="x" * 50,
    )

    assert wrong.status_code == 400 and bad_verifier.status_code == 400
    assert _api(tokens["access_token"]).status_code == 200
    assert not AuditEntry.objects.filter(action="connect.code_reuse").exists()


@pytest.mark.django_db(transaction=True)
def test_two_exchanges_of_one_code_at_once_leave_no_working_token(postgresql, world):
    # Given: one fresh code.
    code, req = _code(Client(), world)
    answers: list[dict] = []
    barrier = threading.Barrier(2)

    def exchange() -> None:
        try:
            barrier.wait()
            response = _exchange(Client(), world, code, req)
            answers.append({"status": response.status_code, **response.json()})
        finally:
            connection.close()

    # When: two token requests race with it.
    threads = [threading.Thread(target=exchange) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then: one exchange is refused, and the tokens the other got (if it got any before the
    # refusal) do not work: a raced code is a reused code.
    assert sorted(a["status"] for a in answers) in ([200, 400], [400, 400])
    for issued in (a for a in answers if a["status"] == 200):
        assert _api(issued["access_token"]).status_code == 401
    assert not AccessToken.objects.exists()
