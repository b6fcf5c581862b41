"""The access-token grant cache: warm checks cost no query, revocations are never served."""

from datetime import timedelta

import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone
from oauth2_provider.models import AccessToken

from partners.models import Partner
from partners.oauth import token_cache
from tests.builders import make_client, make_partner, make_token


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    token_cache.local_tier.clear()
    yield
    cache.clear()
    token_cache.local_tier.clear()


def _only_shared_tier():
    """Forget the per-process tier, as another process would not have it."""
    token_cache.local_tier.clear()


def test_a_warm_token_check_costs_no_query(db, django_assert_num_queries):
    client = make_client()
    _, raw = make_token(client, scopes="partner:read referrals:read")
    token_cache.load_token(raw)
    with django_assert_num_queries(0):
        token = token_cache.load_token(raw)
    assert token.is_valid(["partner:read"]) and not token.is_valid(["offers:write"])
    assert token.partner.id == client.partner_id and token.partner.is_active
    assert token.partner_client_id == client.id


def test_the_shared_tier_alone_serves_without_a_query(db, django_assert_num_queries):
    _, raw = make_token()
    token_cache.load_token(raw)
    _only_shared_tier()
    with django_assert_num_queries(0):
        assert token_cache.load_token(raw) is not None


def test_the_cache_never_holds_the_raw_token(db):
    _, raw = make_token()
    token_cache.load_token(raw)
    grant = cache.get(token_cache.token_key(token_cache.checksum_of(raw)))
    assert raw not in repr(grant)


def test_an_unknown_token_is_none(db):
    assert token_cache.load_token("no-such-token") is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", ["suspended", "rejected", "offboarded"])
def test_partner_status_change_is_seen_on_the_very_next_check(status):
    client = make_client()
    _, raw = make_token(client)
    token_cache.load_token(raw)
    client.partner.status = status
    client.partner.save()  # the path services take: a save, committed
    _only_shared_tier()
    token = token_cache.load_token(raw)
    assert not token.partner.is_active


@pytest.mark.django_db(transaction=True)
def test_client_revocation_is_seen_on_the_very_next_check():
    client = make_client()
    _, raw = make_token(client)
    token_cache.load_token(raw)
    client.revoked_at = timezone.now()
    client.save()
    _only_shared_tier()
    token = token_cache.load_token(raw)
    assert token.application.partner_client.is_revoked


@pytest.mark.django_db(transaction=True)
def test_deleting_a_token_row_is_seen_on_the_very_next_check():
    _, raw = make_token()
    token_cache.load_token(raw)
    AccessToken.objects.filter(token_checksum=token_cache.checksum_of(raw)).get().delete()
    _only_shared_tier()
    assert token_cache.load_token(raw) is None


@pytest.mark.django_db(transaction=True)
def test_a_token_removed_by_cleartokens_is_refused(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REFRESH_TOKEN_EXPIRE_SECONDS": 1}
    token, raw = make_token(expires_in=600)
    token_cache.load_token(raw)
    AccessToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(days=1))
    call_command("cleartokens")
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    _only_shared_tier()
    assert token_cache.load_token(raw) is None


def test_expiry_is_honoured_from_the_cache(db):
    _, raw = make_token(expires_in=600)
    token_cache.load_token(raw)
    key = token_cache.token_key(token_cache.checksum_of(raw))
    grant = cache.get(key)
    expired = token_cache.Grant(**{**grant.__dict__, "expires": grant.expires - 601})
    cache.set(key, expired)
    token_cache.local_tier.put(token_cache.checksum_of(raw), expired)
    assert token_cache.cached_grant(token_cache.checksum_of(raw)) is None


@pytest.mark.django_db(transaction=True)
def test_a_suspension_committed_during_a_fill_never_leaves_an_active_entry(monkeypatch):
    """The stale-write race: the request reads "active", then the suspension commits and
    bumps the generation, then the request writes its entry. The entry must be a miss."""
    client = make_client()
    _, raw = make_token(client)
    real_generations = token_cache._current_generations
    suspended = {"done": False}

    def suspend_first(client_id, partner_id):
        if not suspended["done"]:
            suspended["done"] = True
            partner = Partner.objects.get(pk=partner_id)
            partner.status = Partner.Status.SUSPENDED
            partner.save()  # commits (autocommit) and bumps on commit
        return real_generations(client_id, partner_id)

    monkeypatch.setattr(token_cache, "_current_generations", suspend_first)
    first = token_cache.load_token(raw)
    assert suspended["done"]
    assert not first.partner.is_active  # the confirming read saw the suspension
    _only_shared_tier()
    assert not token_cache.load_token(raw).partner.is_active


@pytest.mark.django_db(transaction=True)
def test_a_stale_entry_written_after_a_bump_is_a_miss(monkeypatch):
    """If an entry is written with generations read before a suspension's bump, readers
    compare against the bumped generation and miss."""
    client = make_client()
    _, raw = make_token(client)
    token_cache.load_token(raw)
    checksum = token_cache.checksum_of(raw)
    stale = cache.get(token_cache.token_key(checksum))
    partner = client.partner
    partner.status = Partner.Status.SUSPENDED
    partner.save()
    cache.set(token_cache.token_key(checksum), stale)  # a late writer puts it back
    _only_shared_tier()
    assert token_cache.cached_grant(checksum) is None
    assert not token_cache.load_token(raw).partner.is_active


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_invalidates_nothing(django_assert_num_queries):
    from django.db import transaction

    client = make_client()
    _, raw = make_token(client)
    token_cache.load_token(raw)
    with pytest.raises(RuntimeError), transaction.atomic():
        client.partner.status = Partner.Status.SUSPENDED
        client.partner.save()
        raise RuntimeError("rolled back")
    _only_shared_tier()
    with django_assert_num_queries(0):
        assert token_cache.load_token(raw).partner.is_active


@pytest.mark.django_db(transaction=True)
def test_a_second_cache_client_sees_the_revocation():
    """Another process has its own connection to the shared cache: model it with a second
    cache client on the same backend."""
    client = make_client()
    _, raw = make_token(client)
    token_cache.load_token(raw)
    checksum = token_cache.checksum_of(raw)
    other = caches.create_connection("default")
    assert other.get(token_cache.token_key(checksum)) is not None
    client.partner.status = Partner.Status.SUSPENDED
    client.partner.save()
    grant = other.get(token_cache.token_key(checksum))
    current = other.get_many(
        [f"oauth-grant:gc:{grant.client_id}", f"oauth-grant:gp:{grant.partner_id}"]
    )
    assert current[f"oauth-grant:gp:{grant.partner_id}"] != grant.partner_gen


@override_settings(TOKEN_CACHE_LOCAL_SECONDS=0)
def test_with_no_local_tier_every_check_asks_the_shared_cache(db, django_assert_num_queries):
    _, raw = make_token()
    token_cache.load_token(raw)
    with django_assert_num_queries(0):
        assert token_cache.load_token(raw) is not None


def test_an_inactive_partners_token_is_never_cached(db):
    client = make_client(partner=make_partner(status=Partner.Status.SUSPENDED))
    _, raw = make_token(client)
    token = token_cache.load_token(raw)
    assert not token.partner.is_active
    assert cache.get(token_cache.token_key(token_cache.checksum_of(raw))) is None


def test_the_pending_invalidations_cost_one_query_a_process_a_second_not_one_a_token(
    db, django_assert_num_queries
):
    _, first = make_token()
    _, second = make_token()
    token_cache.load_token(first)
    token_cache.load_token(second)
    _only_shared_tier()
    token_cache.pending_invalidations.forget()  # this process's view is a second old

    with django_assert_num_queries(1):
        assert token_cache.load_token(first) is not None
    with django_assert_num_queries(0):
        assert token_cache.load_token(second) is not None


def test_a_grant_whose_client_has_a_pending_invalidation_is_not_trusted(db):
    """The cache has not taken the change in (it was down at commit): the row alone makes
    every process go to the database for that client's tokens."""
    from partners.models import GrantInvalidation

    client = make_client()
    _, raw = make_token(client)
    token_cache.load_token(raw)
    PartnerClient = type(client)
    PartnerClient.objects.filter(pk=client.pk).update(revoked_at=timezone.now())
    GrantInvalidation.objects.create(kind="client", ref=client.pk)
    _only_shared_tier()
    token_cache.pending_invalidations.forget()

    assert token_cache.cached_grant(token_cache.checksum_of(raw)) is None
    assert token_cache.load_token(raw).client_revoked
