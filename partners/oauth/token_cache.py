"""A two-tier cache of access-token grants, so a warm token check costs no query.

Tier 1 is a dict in each process, trusted for at most ``TOKEN_CACHE_LOCAL_SECONDS`` (1 s).
Tier 2 is the shared Django cache (Redis in production), where a revocation normally takes
effect on the very next request.

An entry holds only what authorization needs: token, client and partner ids, scopes, expiry,
and the *generation* of its client and its partner at the time it was filled. Anything that
can withdraw a grant — revoking a token or client, changing a client's scopes, a partner's
status — bumps the client's or partner's generation after commit (or deletes the token's
entry); an entry whose generations are not the current ones is a miss.

Revocation never depends on that cache write succeeding. The change also writes a
``GrantInvalidation`` row *in its own transaction*; the row is deleted only once the cache has
taken the change in, right after commit or, if the cache was unreachable then (or the process
died), by the replay the beat runs every few seconds. Each process reads the set of pending
rows at most once every ``PENDING_RECHECK_SECONDS`` (1 s, one query for the whole process,
whatever the number of tokens) and never trusts a shared entry whose token, client or partner
has one pending. A cache that keeps its data across an outage (Redis with persistence) comes
back with the old entries and generations, and they are refused until the replay lands. So a
revocation reaches every process within about a second whatever the cache did, and the warm
path stays free of queries.

The fill closes the stale-write race: it reads the generations *before* a confirming database
read. A suspension that commits after that read bumps the generation after we read it, so our
entry is already stale when written; one that commits before it is seen by the read itself.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import cached_property
from oauth2_provider.models import AccessToken, Application

from partners.models import GrantInvalidation, Partner, PartnerClient

logger = logging.getLogger(__name__)
_PREFIX = "oauth-grant"
Kind = GrantInvalidation.Kind
# How stale a process's view of the pending invalidations may be: the bound on how late a
# revocation the cache missed reaches a process that trusts the shared tier.
PENDING_RECHECK_SECONDS = 1.0
# More pending rows than this (a long cache outage) and the shared tier is not trusted at all.
PENDING_MAX_ROWS = 10_000


def token_key(checksum: str) -> str:
    return f"{_PREFIX}:t:{checksum}"


def _client_gen_key(client_id: str) -> str:
    return f"{_PREFIX}:gc:{client_id}"


def _partner_gen_key(partner_id: str) -> str:
    return f"{_PREFIX}:gp:{partner_id}"


def checksum_of(raw_token: str) -> str:
    # DOT's own lookup checksum (TokenChecksumField), so entries and rows agree.
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Grant:
    """What a valid token allows, as cached. Never holds the raw token."""

    token_id: int
    application_id: int
    client_id: str
    partner_id: str
    partner_slug: str
    partner_name: str
    scope: str
    expires: float  # epoch seconds
    client_gen: int
    partner_gen: int
    user_id: int | None = None  # the customer's user, for a token from the connect flow

    def as_access_token(self) -> CachedAccessToken:
        return CachedAccessToken(self)


class CachedApplication:
    """The part of DOT's Application a bearer check reads."""

    def __init__(self, application_id: int, client_id: str) -> None:
        self.id = self.pk = application_id
        self.client_id = client_id

    def is_usable(self, request: Any) -> bool:
        return True


class CachedAccessToken:
    """An access token rebuilt from a cached grant without the ORM: DOT's own
    ``is_valid``, ``is_expired``, ``allow_scopes`` and ``scopes`` run on it unchanged, so
    TokenHasScope treats it exactly like a loaded row. (Instantiating DOT's models would run
    every field default, among them generating a random client secret: about half a
    millisecond a request.) ``partner`` is a Partner with its id, slug, name and status."""

    is_valid = AccessToken.is_valid
    is_expired = AccessToken.is_expired
    allow_scopes = AccessToken.allow_scopes
    scopes = AccessToken.scopes
    resource = ()
    client_revoked = False

    def __init__(self, grant: Grant) -> None:
        self.id = self.pk = grant.token_id
        self.user_id = grant.user_id
        self.scope = grant.scope
        self.expires = datetime.fromtimestamp(grant.expires, tz=UTC)
        self.application = CachedApplication(grant.application_id, grant.client_id)
        self.partner_client_id = grant.client_id
        self.partner = Partner.from_db(
            None,
            ["id", "slug", "name", "status"],
            [grant.partner_id, grant.partner_slug, grant.partner_name, Partner.Status.ACTIVE],
        )

    @cached_property
    def user(self) -> Any:
        """The customer's user behind a connect token (UserInfo reads it); None otherwise."""
        if self.user_id is None:
            return None
        return get_user_model().objects.filter(pk=self.user_id).first()


class _LocalTier:
    """Per-process entries, trusted for a bounded time only."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Grant]] = {}
        self._lock = threading.Lock()

    def get(self, checksum: str) -> Grant | None:
        item = self._entries.get(checksum)
        if item is None:
            return None
        stored_at, grant = item
        if time.monotonic() - stored_at > settings.TOKEN_CACHE_LOCAL_SECONDS:
            self._entries.pop(checksum, None)
            return None
        return grant

    def put(self, checksum: str, grant: Grant) -> None:
        with self._lock:
            if len(self._entries) >= settings.TOKEN_CACHE_LOCAL_MAX_ENTRIES:
                self._entries.clear()  # bounded memory; a burst of misses is cheap
            self._entries[checksum] = (time.monotonic(), grant)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


local_tier = _LocalTier()


class _PendingInvalidations:
    """This process's view of the GrantInvalidation rows not yet taken in by the cache."""

    _EVERYTHING = frozenset({("*", "*")})

    def __init__(self) -> None:
        self._read_at = -float("inf")
        self._pending: frozenset[tuple[str, str]] = frozenset()

    def current(self) -> frozenset[tuple[str, str]]:
        """The pending rows, read again when this process's view is older than the bound."""
        if time.monotonic() - self._read_at > PENDING_RECHECK_SECONDS:
            read_at = time.monotonic()  # before the read: a row committed during it is seen next
            rows = GrantInvalidation.objects.values_list("kind", "ref")[: PENDING_MAX_ROWS + 1]
            found = frozenset(rows)
            self._pending = found if len(found) <= PENDING_MAX_ROWS else self._EVERYTHING
            self._read_at = read_at
        return self._pending

    def blocks(self, grant: Grant, checksum: str) -> bool:
        pending = self.current()
        return bool(pending) and (
            pending is self._EVERYTHING
            or (Kind.TOKEN, checksum) in pending
            or (Kind.CLIENT, grant.client_id) in pending
            or (Kind.PARTNER, grant.partner_id) in pending
        )

    def forget(self) -> None:
        self._read_at = -float("inf")


pending_invalidations = _PendingInvalidations()


def _current_generations(client_id: str, partner_id: str) -> tuple[int, int]:
    """The current generations, initialised (never reset) when missing: a fresh value from
    the clock, so an entry filled before an eviction can never match again."""
    keys = [_client_gen_key(client_id), _partner_gen_key(partner_id)]
    values = cache.get_many(keys)
    for key in keys:
        if key not in values:
            cache.add(key, time.time_ns(), timeout=None)
            values[key] = cache.get(key)
    return int(values[keys[0]]), int(values[keys[1]])


def _is_current(grant: Grant) -> bool:
    values = cache.get_many([_client_gen_key(grant.client_id), _partner_gen_key(grant.partner_id)])
    return (
        values.get(_client_gen_key(grant.client_id)) == grant.client_gen
        and values.get(_partner_gen_key(grant.partner_id)) == grant.partner_gen
    )


def cached_grant(checksum: str) -> Grant | None:
    """A current, unexpired grant for this token from either tier, or None (a miss)."""
    grant = local_tier.get(checksum)
    if grant is None:
        grant = cache.get(token_key(checksum))
        if grant is None or not _is_current(grant):
            return None
        if pending_invalidations.blocks(grant, checksum):
            return None  # withdrawn in the database; the cache has not taken it in yet
        local_tier.put(checksum, grant)
    if grant.expires <= time.time():
        return None
    return grant


def _load_row(checksum: str) -> AccessToken | None:
    return (
        AccessToken.objects.select_related(
            "application", "application__partner_client", "application__partner_client__partner"
        )
        .filter(token_checksum=checksum)
        .first()
    )


def _grantable(token: AccessToken | None) -> TypeGuard[AccessToken]:
    if token is None or token.is_expired():
        return False
    # A token on behalf of a customer comes only from a connect client (authorization code);
    # it is deleted, through the receivers below, when a consent it is bound to ends.
    if token.user_id is not None and (
        token.application.authorization_grant_type != Application.GRANT_AUTHORIZATION_CODE
    ):
        return False
    client = getattr(token.application, "partner_client", None)
    return bool(client and not client.is_revoked and client.partner.is_active)


def load_token(raw_token: str) -> AccessToken | CachedAccessToken | None:
    """The access token for ``raw_token``: from the cache when warm, else from the database
    (filling the cache when the token is currently good). The returned token carries
    ``partner``, ``partner_client_id`` and ``client_revoked``. A token that is not grantable
    (revoked client, inactive partner) is returned uncached so the caller can say why it is
    refused."""
    checksum = checksum_of(raw_token)
    grant = cached_grant(checksum)
    if grant is not None:
        return grant.as_access_token()
    token = _load_row(checksum)
    if not _grantable(token):
        return _annotated(token)
    client = token.application.partner_client
    pending_invalidations.current()  # read while we query anyway, so warm hits need not
    client_gen, partner_gen = _current_generations(client.id, client.partner_id)
    token = _load_row(checksum)  # confirm after reading the generations (see module doc)
    if not _grantable(token):
        return _annotated(token)
    client = token.application.partner_client
    grant = Grant(
        token_id=token.id,
        application_id=token.application_id,
        client_id=client.id,
        partner_id=client.partner_id,
        partner_slug=client.partner.slug,
        partner_name=client.partner.name,
        scope=token.scope,
        expires=token.expires.timestamp(),
        client_gen=client_gen,
        partner_gen=partner_gen,
        user_id=token.user_id,
    )
    timeout = min(settings.TOKEN_CACHE_SECONDS, max(1, int(grant.expires - time.time())))
    cache.set(token_key(checksum), grant, timeout=timeout)
    local_tier.put(checksum, grant)
    return _annotated(token)


def _annotated(token: AccessToken | None) -> AccessToken | None:
    client = getattr(token.application, "partner_client", None) if token else None
    if token is not None:
        token.partner = client.partner if client else None
        token.partner_client_id = client.id if client else None
        token.client_revoked = bool(client and client.is_revoked)
    return token


# --- Invalidation -----------------------------------------------------------------------------
# Receivers only keep the cache true, whichever path changed the row (services, admin, DOT's
# revoke endpoint, cascades, cleartokens). Each writes a GrantInvalidation row in the change's
# own transaction and applies it to the cache after commit, so a rolled-back change
# invalidates nothing and a committed one is never followed by a stale refill. Applying never
# raises: a cache that is down leaves the row for the replay, and the admin or console user
# who revoked sees the success that the database recorded.


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, time.time_ns(), timeout=None)


def _apply_to_cache(kind: str, ref: str) -> None:
    try:
        if kind == Kind.TOKEN:
            cache.delete(token_key(ref))
        elif kind == Kind.CLIENT:
            _bump(_client_gen_key(ref))
        else:
            _bump(_partner_gen_key(ref))
    finally:
        local_tier.clear()  # this process knows at once, whatever the cache did
        pending_invalidations.forget()


def _invalidate(kind: str, ref: str) -> None:
    row = GrantInvalidation.objects.create(kind=kind, ref=ref)

    def apply_grant_invalidation() -> None:
        try:
            _apply_to_cache(kind, ref)
        except Exception as exc:  # any cache failure: the replay takes over
            logger.warning(
                "token cache: %s invalidation left for the replay (%s)", kind, type(exc).__name__
            )
            return
        GrantInvalidation.objects.filter(pk=row.pk).delete()

    transaction.on_commit(apply_grant_invalidation, robust=True)


def client_generation_bump(client_id: str) -> None:
    _invalidate(Kind.CLIENT, client_id)


def partner_generation_bump(partner_id: str) -> None:
    _invalidate(Kind.PARTNER, partner_id)


def grant_invalidations_replay(*, older_than_seconds: float = 2.0) -> int:
    """Apply to the cache every invalidation it has not taken in (the cache was down at
    commit, or the process died before applying), oldest first; stops at the first cache
    failure. Rows younger than ``older_than_seconds`` are normally being applied by their own
    commit. Returns how many were applied."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    applied = 0
    rows = GrantInvalidation.objects.filter(created_at__lte=cutoff)[:PENDING_MAX_ROWS]
    for row in rows:
        try:
            _apply_to_cache(row.kind, row.ref)
        except Exception as exc:  # the cache is still unreachable: try again next time
            logger.warning("token cache: replay stopped (%s)", type(exc).__name__)
            break
        GrantInvalidation.objects.filter(pk=row.pk).delete()
        applied += 1
    if applied:
        logger.info("token cache: %d invalidations replayed", applied)
    return applied


@receiver(post_save, sender=Partner, dispatch_uid="token_cache_partner_saved")
def _partner_saved(sender: Any, instance: Partner, created: bool, **kwargs: Any) -> None:
    if not created:
        partner_generation_bump(instance.pk)


@receiver(post_save, sender=PartnerClient, dispatch_uid="token_cache_client_saved")
def _client_saved(sender: Any, instance: PartnerClient, created: bool, **kwargs: Any) -> None:
    if not created:
        client_generation_bump(instance.pk)


@receiver(post_delete, sender=PartnerClient, dispatch_uid="token_cache_client_deleted")
def _client_deleted(sender: Any, instance: PartnerClient, **kwargs: Any) -> None:
    client_generation_bump(instance.pk)


@receiver(post_save, sender=AccessToken, dispatch_uid="token_cache_token_saved")
@receiver(post_delete, sender=AccessToken, dispatch_uid="token_cache_token_deleted")
def _token_changed(sender: Any, instance: AccessToken, **kwargs: Any) -> None:
    if kwargs.get("created"):
        return
    _invalidate(Kind.TOKEN, instance.token_checksum)
