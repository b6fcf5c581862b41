"""Idempotency keys: the first response to a POST is kept and replayed to its retries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ecosystem import crypto
from ecosystem.errors import ApplicationError, ConflictError
from ecosystem.models import IdempotencyRecord

MAX_KEY_LENGTH = 255
# A claim still in flight after this long belongs to a request that died without releasing it
# (a killed worker, the database lost mid-request): a retry takes it over.
IN_FLIGHT_LEASE = timedelta(minutes=5)


class IdempotencyKeyInvalid(ApplicationError):
    code = "idempotency_key_invalid"
    title = "The Idempotency-Key header is not valid."


class IdempotencyKeyReused(ApplicationError):
    status = 422
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request body."


class IdempotencyInFlight(ConflictError):
    code = "idempotency_in_flight"
    title = "A request with this Idempotency-Key is still being processed."


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str


def _aad(record_id: int) -> bytes:
    return crypto.associated_data(IdempotencyRecord._meta.db_table, "response_body", record_id)


def _expiry_cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


# The claim inside the request's transaction (PostgreSQL): the row is inserted only while this
# transaction holds the key's advisory lock, which a concurrent duplicate then fails to take,
# so it answers 409 at once instead of waiting on the unique index; and an existing row is
# left alone (ON CONFLICT DO NOTHING: no savepoint needed). No row back means one of the two.
_CLAIM = """
INSERT INTO ecosystem_idempotencyrecord (scope, route, key, fingerprint, state,
                                         response_content_type, created_at)
SELECT %s, %s, %s, %s, %s, '', %s WHERE pg_try_advisory_xact_lock(%s)
ON CONFLICT (scope, route, key) DO NOTHING
RETURNING id
"""


def _lock_id(scope: str, route: str, key: str) -> int:
    digest = hashlib.blake2b(f"{scope}\n{route}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def claims_in_transaction() -> bool:
    """Whether a claim is made inside the request's own transaction (one commit for the
    claim, the work and the stored response), rather than committed on its own first:
    PostgreSQL, which has advisory locks to keep a concurrent duplicate at 409. SQLite lets
    one writer in at a time, so there a duplicate would wait for the whole request instead."""
    return connection.vendor == "postgresql"


def _claim(*, scope: str, route: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    if claims_in_transaction():
        if not connection.in_atomic_block:
            raise transaction.TransactionManagementError("The claim lasts until the commit.")
        now = timezone.now()
        state = IdempotencyRecord.State.IN_FLIGHT
        with connection.cursor() as cursor:
            cursor.execute(
                _CLAIM,
                [scope, route, key, fingerprint, state, now, _lock_id(scope, route, key)],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        record = IdempotencyRecord(
            pk=row[0], scope=scope, route=route, key=key, fingerprint=fingerprint, state=state
        )
        record.created_at = now
        record._state.adding, record._state.db = False, connection.alias
        return record
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                scope=scope, route=route, key=key, fingerprint=fingerprint
            )
    except IntegrityError:
        return None


def idempotency_begin(
    *, scope: str, route: str, key: str, fingerprint: str
) -> IdempotencyRecord | StoredResponse:
    """Claim ``key`` for this request, or return the response to replay.

    A concurrent duplicate gets 409 rather than doing the work twice: on PostgreSQL the claim
    is part of the request's transaction and guarded by an advisory lock on the key
    (``claims_in_transaction``); elsewhere it commits on its own before the work starts.
    """
    # Printable ASCII, as the schema says (the IETF draft's key is a structured-field string).
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise IdempotencyKeyInvalid(f"Use 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
    for _attempt in range(2):
        claimed = _claim(scope=scope, route=route, key=key, fingerprint=fingerprint)
        if claimed is not None:
            return claimed
        existing = IdempotencyRecord.objects.filter(scope=scope, route=route, key=key).first()
        if existing is None:
            if claims_in_transaction():  # not ours to take: another request holds the lock
                raise IdempotencyInFlight("Retry after the first request has finished.")
            continue  # purged between our insert and read: claim it again.
        if existing.created_at < _expiry_cutoff():
            existing.delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused("Send a new Idempotency-Key for a different request.")
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            if existing.created_at < timezone.now() - IN_FLIGHT_LEASE:
                IdempotencyRecord.objects.filter(
                    pk=existing.pk, state=IdempotencyRecord.State.IN_FLIGHT
                ).delete()
                continue
            raise IdempotencyInFlight("Retry after the first request has finished.")
        sealed = bytes(existing.response_body or b"").decode()
        return StoredResponse(
            status=existing.response_status or 200,
            body=crypto.decrypt(sealed, aad=_aad(existing.pk)) if sealed else b"",
            content_type=existing.response_content_type,
        )
    raise IdempotencyInFlight("Retry after the first request has finished.")


def idempotency_complete(
    *, record: IdempotencyRecord, status: int, body: bytes, content_type: str
) -> None:
    """Keep the response for replay, encrypted: it may hold a secret shown only once (a new
    client's or webhook endpoint's). A server error releases the key so a retry can act."""
    if status >= 500:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_body=crypto.encrypt(body, aad=_aad(record.pk)).encode(),
        response_content_type=content_type,
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


def idempotency_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=_expiry_cutoff()).delete()
    return deleted
