"""Revocation never depends on a cache write after commit: with a cache that keeps its data
across an outage (a private redis-server with append-only persistence, stopped and started
again by the test), a change committed while it was down is never undone by its return."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from partners.models import GrantInvalidation, Partner
from partners.oauth import token_cache
from partners.services.partners import partner_suspend
from partners.tasks import grant_invalidations_replay_task
from tests.builders import api_client_for, make_client, make_partner, make_staff, make_token
from tests.private_servers import PrivateRedis


@pytest.fixture(scope="module")
def redis_server():
    server = PrivateRedis()
    yield server
    server.close()


@pytest.fixture
def persistent_cache(redis_server, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url(),
            "KEY_PREFIX": "eg",
        }
    }
    cache.clear()
    another_process()
    yield redis_server
    redis_server.ensure_running()
    another_process()


def another_process() -> None:
    """What a process that did not make the change knows: nothing in memory."""
    token_cache.local_tier.clear()
    token_cache.pending_invalidations.forget()


def seconds_pass() -> None:
    """The replay leaves rows of the last two seconds to their own commit's hook."""
    GrantInvalidation.objects.update(created_at=timezone.now() - timedelta(seconds=10))


def partner_call(raw: str):
    api = api_client_for(raw)
    return api.get("/api/v1/partner")


def warmed(partner: Partner | None = None):
    client = make_client(partner or make_partner(), scopes="partner:read")
    _, raw = make_token(client, scopes="partner:read")
    assert partner_call(raw).status_code == 200  # fills both tiers
    return client, raw


@pytest.mark.django_db(transaction=True)
def test_a_client_revoked_in_the_console_while_the_cache_is_down_stays_revoked(
    persistent_cache, client
):
    api_client, raw = warmed()
    checksum = token_cache.checksum_of(raw)
    client.force_login(make_staff(api_client.partner))
    persistent_cache.stop()

    response = client.post(f"/partner-admin/partners/partnerclient/{api_client.pk}/revoke/")

    assert response.status_code == 302  # the revocation committed: no error for the user
    api_client.refresh_from_db()
    assert api_client.is_revoked
    persistent_cache.start()
    assert cache.get(token_cache.token_key(checksum)) is not None  # the old grant is back
    another_process()

    assert partner_call(raw).status_code == 401
    assert partner_call(raw).json()["code"] == "invalid_token"  # no such token now

    seconds_pass()
    assert grant_invalidations_replay_task() == 2  # the client's generation, its token
    assert not GrantInvalidation.objects.exists()
    assert cache.get(token_cache.token_key(checksum)) is None
    another_process()
    assert partner_call(raw).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_partner_suspended_while_the_cache_is_down_has_its_tokens_refused_when_it_returns(
    persistent_cache,
):
    api_client, raw = warmed()
    persistent_cache.stop()

    partner_suspend(partner=api_client.partner, actor=None, reason="unpaid")

    persistent_cache.start()
    another_process()
    response = partner_call(raw)
    assert response.status_code == 401 and response.json()["code"] == "partner_inactive"

    seconds_pass()
    assert grant_invalidations_replay_task() == 1
    assert not GrantInvalidation.objects.exists()
    another_process()
    assert partner_call(raw).json()["code"] == "partner_inactive"  # the bump, not the row


@pytest.mark.django_db(transaction=True)
def test_the_replay_leaves_the_invalidation_pending_while_the_cache_is_still_down(
    persistent_cache,
):
    api_client, _raw = warmed()
    persistent_cache.stop()
    partner_suspend(partner=api_client.partner, actor=None, reason="unpaid")
    seconds_pass()

    assert grant_invalidations_replay_task() == 0

    assert GrantInvalidation.objects.filter(kind="partner", ref=api_client.partner_id).exists()


@pytest.mark.django_db(transaction=True)
def test_with_a_healthy_cache_nothing_is_left_pending_and_the_warm_path_costs_no_query(
    persistent_cache, django_assert_num_queries
):
    api_client, raw = warmed()
    _, other_raw = warmed(api_client.partner)
    api_client.scopes = "partner:read"
    api_client.save()  # any change bumps: applied at once, nothing left for the replay

    assert not GrantInvalidation.objects.exists()
    token_cache.load_token(raw)  # refill after the bump
    token_cache.local_tier.clear()
    with django_assert_num_queries(0):
        assert token_cache.load_token(raw) is not None
        assert token_cache.load_token(other_raw) is not None
