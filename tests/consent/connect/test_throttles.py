"""Rate limits on the connect flow's browser and relying-party endpoints: /o/authorize/ (a
readable page) and /o/userinfo/ (429 problem+json), counted before anything is looked up."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.consent.connect.support import AuthorizeRequest, query_of, token_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_window_ahead")]


def _access_token(client: Client, world) -> str:
    client.force_login(world.ben.user)
    req = AuthorizeRequest(world.client, scope="openid email")
    code = query_of(client.post(req.url, {"answer": "approve"})["Location"])["code"]
    return token_request(
        client,
        world.client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=req.redirect_uri,
        code_verifier=req.verifier,
    ).json()["access_token"]


def test_authorize_is_throttled_per_address_with_a_readable_page(world, settings):
    settings.OAUTH_CONNECT_RATE_PER_MINUTE = 3
    browser = Client(REMOTE_ADDR="198.51.100.20")
    url = AuthorizeRequest(world.client).url

    answers = [browser.get(url) for _ in range(4)]

    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    page = answers[-1].content.decode()
    assert answers[-1]["Content-Type"].startswith("text/html")
    assert page.count("<h1>") == 1 and "Too many requests" in page and "Try again in" in page
    assert int(answers[-1]["Retry-After"]) >= 1
    # Another address is not held up by this one.
    assert Client(REMOTE_ADDR="198.51.100.21").get(url).status_code == 302


def test_a_refused_authorize_request_counts_too(world, settings):
    settings.OAUTH_CONNECT_RATE_PER_MINUTE = 2
    browser = Client(REMOTE_ADDR="198.51.100.22")
    browser.force_login(world.ben.user)
    bad = AuthorizeRequest(world.client, redirect_uri="https://evil.example/cb").url

    answers = [browser.get(bad) for _ in range(3)]

    assert [a.status_code for a in answers] == [400, 400, 429]


def test_authorize_is_throttled_per_customer_across_addresses(world, settings):
    settings.OAUTH_CONNECT_RATE_PER_MINUTE = 2
    url = AuthorizeRequest(world.client).url
    answers = []
    for n in range(3):
        browser = Client(REMOTE_ADDR=f"198.51.100.{30 + n}")
        browser.force_login(world.ben.user)
        answers.append(browser.get(url).status_code)

    assert answers == [200, 200, 429]


def test_userinfo_is_throttled_with_problem_json(world, settings):
    token = _access_token(Client(), world)
    settings.OAUTH_CONNECT_RATE_PER_MINUTE = 2
    rp = Client(REMOTE_ADDR="198.51.100.40")

    answers = [rp.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited" and int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Limit"] == "2" and refused["RateLimit-Remaining"] == "0"


def test_userinfo_counts_per_token_across_addresses_and_unknown_tokens_too(world, settings):
    token = _access_token(Client(), world)
    settings.OAUTH_CONNECT_RATE_PER_MINUTE = 2
    header = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    first = Client(REMOTE_ADDR="198.51.100.41").get("/o/userinfo/", **header)
    second = Client(REMOTE_ADDR="198.51.100.42").get("/o/userinfo/", **header)
    third = Client(REMOTE_ADDR="198.51.100.43").get("/o/userinfo/", **header)
    guesser = Client(REMOTE_ADDR="198.51.100.44")
    guesses = [
        guesser.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer guess-{n}").status_code
        for n in range(3)
    ]

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert guesses == [401, 401, 429]
