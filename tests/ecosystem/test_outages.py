"""Outages answer 503 with Retry-After, never 500, and authentication stays fail-closed: a
private redis-server and a private PostgreSQL cluster, started by these tests, are stopped
for real while the gateway serves the API, the token endpoint and the portal."""

from __future__ import annotations

import base64
import contextlib

import pytest
from django.core.cache import cache
from django.db import connections
from django.db.utils import load_backend
from django.test import Client

from partners.oauth import token_cache
from tests.builders import api_client_for, make_customer, make_token
from tests.private_servers import PrivatePostgres, PrivateRedis

PASSWORD = "a long portal passphrase"


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    token_cache.local_tier.clear()
    token_cache.pending_invalidations.forget()
    yield
    token_cache.local_tier.clear()
    token_cache.pending_invalidations.forget()


def assert_api_outage(response) -> None:
    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "60"
    body = response.json()
    assert body["code"] == "service_unavailable" and body["status"] == 503
    assert body["instance"] == response["Request-Id"]


def assert_calm_page(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "60"
    assert "try again in a minute" in response.content.decode()


def token_request(client: Client, api_client, secret: str):
    basic = base64.b64encode(f"{api_client.pk}:{secret}".encode()).decode()
    return client.post(
        "/o/token/",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )


def a_client_with_secret():
    from partners.services.clients import client_create
    from tests.builders import make_partner

    partner = make_partner(scope_ceiling="partner:read")
    return client_create(partner=partner, name="app", scopes={"partner:read"}, actor=None)


def a_customer_signed_in(client: Client):
    customer = make_customer(email="calm@mail.example", password=PASSWORD)
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")
    return customer


@pytest.fixture
def http():
    """A browser-like client: it gets the 500 page (not the exception) when one happens."""
    return Client(raise_request_exception=False)


# --- the cache --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server():
    server = PrivateRedis()
    yield server
    server.close()


@pytest.fixture
def cache_outage(redis_server, settings):
    """The shared cache is a private redis-server; ``cache_outage()`` stops it."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url(),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    cache.clear()
    yield redis_server.stop
    redis_server.ensure_running()


def test_with_the_cache_down_the_api_answers_503_and_never_lets_a_token_through(db, cache_outage):
    _, warm = make_token(scopes="partner:read")
    _, cold = make_token(scopes="partner:read")
    assert api_client_for(warm).get("/api/v1/partner").status_code == 200  # cached now
    token_cache.local_tier.clear()

    cache_outage()

    for raw in (warm, cold):
        response = api_client_for(raw).get("/api/v1/partner")
        assert_api_outage(response)
    assert api_client_for().get("/api/v1/partner").status_code == 401  # no token, as ever


def test_with_the_cache_down_the_token_endpoint_answers_503(db, cache_outage, http):
    api_client, secret = a_client_with_secret()
    assert token_request(http, api_client, secret).status_code == 200

    cache_outage()

    assert_api_outage(token_request(http, api_client, secret))


def test_with_the_cache_down_portal_sign_in_shows_the_calm_page(db, cache_outage, http):
    make_customer(email="calm@mail.example", password=PASSWORD)
    assert http.get("/login/").status_code == 200

    cache_outage()

    response = http.post("/login/", {"email": "calm@mail.example", "password": PASSWORD})
    assert_calm_page(response)
    assert "_auth_user_id" not in http.session


# --- the database -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server():
    server = PrivatePostgres()
    yield server
    server.close()


@contextlib.contextmanager
def _default_database_at(server: PrivatePostgres):
    """Requests in this thread use a connection to the private cluster (the test's own data
    stays on its usual database, unseen while the outage lasts)."""
    original = connections["default"]
    settings_dict = {
        **original.settings_dict,
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": "127.0.0.1",
        "PORT": str(server.port),
        "OPTIONS": {"connect_timeout": 2},
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    connections._connections.default = wrapper
    try:
        yield wrapper
    finally:
        with contextlib.suppress(Exception):
            wrapper.close()
        connections._connections.default = original


@pytest.fixture
def database_outage(postgres_server):
    """Swap in a live connection to the private cluster, then stop the cluster: the next
    query finds its server gone, later ones find nothing listening."""

    @contextlib.contextmanager
    def outage():
        with _default_database_at(postgres_server) as wrapper:
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT 1")  # a real, open connection ...
            postgres_server.stop()  # ... whose server goes away
            try:
                yield
            finally:
                postgres_server.start()

    return outage


def test_with_the_database_down_the_api_answers_503_warm_or_cold(db, database_outage):
    _, warm = make_token(scopes="partner:read referrals:write")
    _, cold = make_token(scopes="partner:read")
    assert api_client_for(warm).get("/api/v1/partner").status_code == 200  # cached now

    with database_outage():
        warm_response = api_client_for(warm).get("/api/v1/partner")
        cold_response = api_client_for(cold).get("/api/v1/partner")
        post_response = api_client_for(warm).post(
            "/api/v1/referrals",
            {"customer_id": "cus_x", "to_partner": "par_y"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="during-the-outage",
        )

    assert_api_outage(warm_response)
    assert_api_outage(cold_response)
    assert_api_outage(post_response)


def test_with_the_database_down_the_token_endpoint_answers_503(db, database_outage, http):
    api_client, secret = a_client_with_secret()

    with database_outage():
        response = token_request(http, api_client, secret)

    assert_api_outage(response)


def test_with_the_database_down_the_portal_shows_the_calm_page(db, database_outage, http):
    a_customer_signed_in(http)
    assert http.get("/").status_code == 200

    with database_outage():
        home = http.get("/")
        sign_in = Client(raise_request_exception=False).post(
            "/login/", {"email": "calm@mail.example", "password": PASSWORD}
        )

    assert_calm_page(home)
    assert_calm_page(sign_in)


def test_a_query_error_that_is_not_an_outage_is_still_a_500(db, http, monkeypatch):
    from django.db import OperationalError

    from consent.portal import views

    def broken(*args, **kwargs):
        raise OperationalError("no such column: nonsense")

    a_customer_signed_in(http)
    monkeypatch.setattr(views, "render", broken)

    assert http.get("/").status_code == 500


def test_an_outage_raised_outside_a_view_still_answers_503(rf):
    """handler500 runs while Django handles an exception a middleware raised (saving the
    session, say): it answers an outage as one."""
    import redis

    from ecosystem.urls import handler500

    for path, content_type in (("/api/v1/partner", "application/problem+json"), ("/", "text/")):
        try:
            raise redis.exceptions.ConnectionError("Connection refused")
        except redis.exceptions.ConnectionError:
            response = handler500(rf.get(path))
        assert response.status_code == 503 and response["Retry-After"] == "60"
        assert response["Content-Type"].startswith(content_type)
