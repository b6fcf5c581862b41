"""OWASP API2:2023 Broken Authentication.

Authentication mechanisms an attacker can brute-force, bypass or turn against the owner:
every password form (the portal's, the admin's, the partner console's) slows guessing down
per account and stops it per address without letting a stranger lock the owner out; the token
endpoint counts per address and per client-and-secret, never per client id alone; a revoked,
expired, suspended or wrong client's token is refused; no credential travels in a URL.
"""

from __future__ import annotations

import base64
import time

import pytest
from django.test import Client

from ecosystem import ratelimit
from ecosystem.ratelimit import LoginThrottle
from partners.models import Partner
from partners.services.clients import client_revoke
from tests.builders import make_admin, make_api, make_client, make_partner, make_staff, make_token

ADMIN_PASSWORD = "admin-pass-1234"
STAFF_PASSWORD = "console-pass-123"
FREE = LoginThrottle.free_per_account


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def _sign_in(http: Client, path: str, username: str, password: str):
    return http.post(path, {"username": username, "password": password, "next": path + "../"})


SITES = [
    pytest.param(
        "/admin/login/", lambda: make_admin(password=ADMIN_PASSWORD), ADMIN_PASSWORD, id="admin"
    ),
    pytest.param(
        "/partner-admin/login/", lambda: make_staff(make_partner()), STAFF_PASSWORD, id="console"
    ),
]


@pytest.mark.parametrize(("path", "make_user", "password"), SITES)
def test_25_wrong_passwords_then_the_right_one_is_refused_until_the_delay_passes(
    db, path, make_user, password, monkeypatch
):
    # Given: a guesser tries 25 wrong passwords for one account, from many addresses.
    clock = _Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    user = make_user()
    for n in range(25):
        guess = _sign_in(Client(REMOTE_ADDR=f"198.51.100.{n}"), path, user.username, "guess")
        assert guess.status_code in (200, 429)
        assert "_auth_user_id" not in guess.wsgi_request.session

    # When: the right password comes at once.
    owner = Client(REMOTE_ADDR="203.0.113.7")
    refused = _sign_in(owner, path, user.username, password)

    # Then: refused with 429 and when to retry; accepted once the (bounded) delay is over.
    assert refused.status_code == 429
    assert "Too many attempts. Try again in" in refused.content.decode()
    assert "_auth_user_id" not in owner.session
    clock.now += LoginThrottle.delay_cap
    accepted = _sign_in(owner, path, user.username, password)
    assert accepted.status_code == 302 and owner.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize(("path", "make_user", "password"), SITES)
def test_the_delay_grows_per_account_and_is_bounded(db, path, make_user, password, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    user = make_user()
    scope = "admin" if path.startswith("/admin/") else "console"
    key = LoginThrottle(scope, user.username, "").account_key
    waits = []
    for n in range(FREE + 7):
        clock.now += waits[-1] if waits else 0
        _sign_in(Client(REMOTE_ADDR=f"198.51.100.{n}"), path, user.username, "guess")
        waits.append(ratelimit.lockout_wait(key))

    assert waits == [0] * FREE + [2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize(("path", "make_user", "password"), SITES)
def test_one_address_is_stopped_after_its_limit_for_every_account(db, path, make_user, password):
    user = make_user()
    guesser = Client(REMOTE_ADDR="198.51.100.1")
    for n in range(LoginThrottle.per_address):
        _sign_in(guesser, path, f"someone-{n}", "guess")

    refused = _sign_in(guesser, path, user.username, password)
    elsewhere = _sign_in(Client(REMOTE_ADDR="203.0.113.7"), path, user.username, password)

    assert refused.status_code == 429 and "Try again in 15 minutes" in refused.content.decode()
    assert elsewhere.status_code == 302


@pytest.mark.parametrize(("path", "make_user", "password"), SITES)
def test_a_successful_sign_in_forgets_the_accounts_failures(db, path, make_user, password):
    user = make_user()
    for _ in range(FREE):
        _sign_in(Client(), path, user.username, "guess")
    assert _sign_in(Client(), path, user.username, password).status_code == 302

    for _ in range(FREE):  # counted from zero again: no delay yet
        _sign_in(Client(), path, user.username, "guess")
    assert _sign_in(Client(), path, user.username, password).status_code == 302


# --- /o/token/ ------------------------------------------------------------------------------


def _token(http: Client, client_id: str, secret: str):
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return http.post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {raw}"
    )


def test_strangers_who_know_a_client_id_cannot_exhaust_its_token_budget(db, settings):
    """Before: failures were counted per client id, so 60 wrong secrets locked out the
    right one with 429."""
    settings.OAUTH_TOKEN_RATE_PER_MINUTE = 5
    partner_client = make_client()
    for n in range(3 * settings.OAUTH_TOKEN_RATE_PER_MINUTE):
        stranger = Client(REMOTE_ADDR=f"198.51.100.{n}")
        assert _token(stranger, partner_client.id, f"wrong-{n % 2}").status_code in (401, 429)

    answer = _token(Client(REMOTE_ADDR="203.0.113.7"), partner_client.id, partner_client.secret)

    assert answer.status_code == 200, answer.content


def test_one_address_is_throttled_whatever_client_it_names(db, settings):
    settings.OAUTH_TOKEN_RATE_PER_MINUTE = 3
    guesser = Client(REMOTE_ADDR="198.51.100.1")
    for _ in range(3):
        assert _token(guesser, make_client().id, "wrong").status_code == 401

    refused = _token(guesser, make_client().id, "wrong")

    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1


def test_the_right_secret_is_throttled_per_client_and_secret_across_addresses(db, settings):
    settings.OAUTH_TOKEN_RATE_PER_MINUTE = 3
    partner_client = make_client()
    for n in range(3):
        assert (
            _token(
                Client(REMOTE_ADDR=f"198.51.100.{n}"), partner_client.id, partner_client.secret
            ).status_code
            == 200
        )

    refused = _token(Client(REMOTE_ADDR="203.0.113.9"), partner_client.id, partner_client.secret)

    assert refused.status_code == 429


def test_the_token_throttle_keeps_no_secret_in_the_cache(db, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "token-throttle-keys",
        }
    }
    from django.core.cache import caches

    partner_client = make_client()
    _token(Client(), partner_client.id, partner_client.secret)

    keys = list(caches["default"]._cache)
    assert any(f"token:credential:{partner_client.id}:" in key for key in keys)
    assert not any(partner_client.secret in key for key in keys)


def test_the_token_request_path_makes_no_query_before_the_secret_is_checked(
    db, settings, django_assert_max_num_queries
):
    settings.OAUTH_TOKEN_RATE_PER_MINUTE = 1
    partner_client = make_client()
    _token(Client(), partner_client.id, "wrong")
    with django_assert_max_num_queries(0):
        assert _token(Client(), partner_client.id, "wrong").status_code == 429


# --- credentials in a URL -------------------------------------------------------------------


def _basic(partner_client) -> dict[str, str]:
    raw = f"{partner_client.id}:{partner_client.secret}".encode()
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("path", ["/o/introspect/", "/o/revoke_token/", "/o/token/"])
def test_the_oauth_endpoints_refuse_a_token_or_secret_in_the_query_string(db, path):
    partner_client = make_client()
    token, raw = make_token(partner_client)
    secret_query = f"client_id={partner_client.id}&client_secret={partner_client.secret}"
    body = {"token": raw, "grant_type": "client_credentials"}

    in_query = Client().post(
        f"{path}?token={raw}", {"grant_type": "client_credentials"}, **_basic(partner_client)
    )
    secret_in_query = Client().post(f"{path}?{secret_query}", body)

    for answer in (in_query, secret_in_query):
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"] == "invalid_request"
        assert "active" not in answer.json() and "access_token" not in answer.json()
    token.refresh_from_db()  # nothing was revoked
    assert token.is_valid()


def test_introspection_still_answers_with_the_token_in_the_body(db):
    partner_client = make_client()
    _, raw = make_token(partner_client)

    answer = Client().post("/o/introspect/", {"token": raw}, **_basic(partner_client))

    assert answer.status_code == 200 and answer.json()["active"] is True


def test_the_api_refuses_an_access_token_in_the_query_string(db):
    api = make_api()
    raw = api._credentials["HTTP_AUTHORIZATION"].split()[1]

    answer = Client().get(f"/api/v1/partner?access_token={raw}")

    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("state", ["revoked", "expired", "suspended", "wrong_client"])
def test_a_token_that_should_not_work_is_refused(db, state):
    partner_client = make_client()
    _, raw = make_token(partner_client, expires_in=-1 if state == "expired" else 600)
    if state == "revoked":
        client_revoke(client=partner_client, actor=None)
    if state == "suspended":
        Partner.objects.filter(pk=partner_client.partner_id).update(status="suspended")
    http = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if state == "wrong_client":
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw[:-2]}xx"}

    answer = http.get("/api/v1/partner", **headers)

    assert answer.status_code in (401, 403), answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert "slug" not in answer.json()


# --- password reset -------------------------------------------------------------------------


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_a_password_reset_queues_one_email_and_sends_nothing_inside_the_request(
    db, known, settings
):
    """Before: only a known address had its email sent, inside the request (with SMTP, a
    timing oracle for who has an account). Now both queue one outbox row, the same way."""
    from django.core import mail

    from ecosystem.models import Email
    from tests.builders import make_customer

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    if known:
        make_customer(email="known@mail.example", password="a-fine-password-77")
    email = "known@mail.example" if known else "nobody@mail.example"

    response = Client().post("/account/password-reset/", {"email": email})

    assert response.status_code == 302
    assert response["Location"] == "/account/password-reset/sent/"
    assert mail.outbox == []  # a worker sends it, after the response
    queued = Email.objects.get()
    assert queued.status == "pending" and queued.attempts == 0
    assert queued.kind == (
        "customer.password_reset" if known else "customer.password_reset_unknown"
    )
