"""Delivering due deliveries, endpoint by endpoint, and the sweep that re-drives them.

The database holds the schedule: a delivery is due when it is ``pending`` and its
``next_attempt_at`` has passed. A task works for one endpoint: it takes one of the
endpoint's sending slots (at most ``WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT`` requests in flight
to an endpoint, so a slow one ties up that many worker threads and no more), claims a batch
of its due deliveries (``sending``, leased until ``next_attempt_at``), sends them one after
another over a kept-alive connection, and records the batch in one transaction.

Publishing and retries only "kick" the endpoint (queue its task, once); the sweep kicks every
endpoint with due work and takes back deliveries whose lease ran out, so a lost task, a
killed worker or a broker that was down at commit time delays a delivery but never loses it.
Delivery is therefore at least once, always with the same ``webhook-id`` (the partner's own
event id, ``EventPayload.public_id``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from ecosystem import http, metrics, outbox, ssrf
from partners.webhooks.models import Delivery, DeliveryAttempt, EventPayload, WebhookEndpoint
from partners.webhooks.signing import webhook_headers

logger = logging.getLogger(__name__)
Status = Delivery.Status
BATCH_SIZE = 20
# A task hands its endpoint over to a fresh task after this long, so busy endpoints take
# turns with the others for worker threads.
TASK_BUDGET_SECONDS = 10
SWEEP_MAX_ENDPOINTS = 1000
RECORDED_FIELDS = [
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
]


def lease() -> timedelta:
    """How long claimed deliveries are left to their worker before the sweep takes them back.
    A batch stops sending early enough to be recorded inside it."""
    return timedelta(seconds=max(60, 3 * settings.WEBHOOK_TIMEOUT_SECONDS))


def _queued_key(endpoint_id: str) -> str:
    return f"webhooks:queued:{endpoint_id}"


def kick(endpoint_ids: Iterable[str], *, force: bool = False) -> None:
    """Queue a delivery task for each endpoint, unless one is already queued (``force``
    queues anyway: the sweep's answer to a task lost with its broker or worker)."""
    from partners.webhooks.tasks import webhook_deliver_task  # the tasks module imports this one

    ttl = int(lease().total_seconds())
    for endpoint_id in endpoint_ids:
        if force or cache.add(_queued_key(endpoint_id), "1", timeout=ttl):
            webhook_deliver_task.delay(endpoint_id)


def kick_on_commit(endpoint_ids: Iterable[str], *, force: bool = False) -> None:
    """Kick after the caller's transaction commits. If the broker or cache is down then, the
    error is logged and the deliveries wait, due, for the sweep.

    The callback is a named function, never a ``functools.partial``: Django's robust
    on-commit logs the failing callback's ``__qualname__``, which a partial lacks, and the
    AttributeError would turn the committed write into a 500."""
    ids = sorted(set(endpoint_ids))

    def kick_endpoints() -> None:
        kick(ids, force=force)

    transaction.on_commit(kick_endpoints, robust=True)


def signing_keys(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        keys.append(endpoint.previous_secret)
    return keys


def next_delay(attempts: int) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt (±20 % jitter), or None: give up."""
    return outbox.retry_delay(attempts, settings.WEBHOOK_RETRY_SCHEDULE)


def _outcome(result: http.HttpResult) -> tuple[bool, str]:
    code = result.status_code
    if code is None:
        return False, result.error
    if 200 <= code < 300:
        return True, ""
    if 300 <= code < 400:
        return False, f"HTTP {code}: redirects are not followed"
    return False, f"HTTP {code}"


@dataclass
class _Sent:
    delivery: Delivery
    at: datetime
    result: http.HttpResult


def _take_slot(endpoint_id: str) -> str | None:
    ttl = int(lease().total_seconds()) + TASK_BUDGET_SECONDS
    for slot in range(settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT):
        key = f"webhooks:slot:{endpoint_id}:{slot}"
        if cache.add(key, "1", timeout=ttl):
            return key
    return None


def _due(endpoint_id: str, now: datetime) -> QuerySet[Delivery]:
    return Delivery.objects.filter(
        endpoint_id=endpoint_id, status=Status.PENDING, next_attempt_at__lte=now
    )


# PostgreSQL claims a batch in one statement: lock up to %(n)s due rows of the endpoint that
# no other slot holds (SKIP LOCKED), lease them, and return them with their payloads.
_CLAIM = """
UPDATE ecosystem_delivery AS d
   SET status = 'sending', next_attempt_at = %(until)s
  FROM ecosystem_eventpayload AS p
 WHERE d.id IN (SELECT due.id FROM ecosystem_delivery AS due
                 WHERE due.endpoint_id = %(endpoint)s AND due.status = 'pending'
                   AND due.next_attempt_at <= %(now)s
                 ORDER BY due.next_attempt_at LIMIT %(n)s FOR UPDATE SKIP LOCKED)
   AND p.id = d.payload_id
RETURNING d.id, d.attempts, d.created_at, p.id, p.public_id, p.body
"""


def _claim_batch(endpoint_id: str) -> tuple[datetime, list[Delivery]]:
    now = timezone.now()
    if connection.vendor == "postgresql":
        return now, _claim_batch_in_one_statement(endpoint_id, now)
    with transaction.atomic():
        # On SQLite the write lock taken at BEGIN (IMMEDIATE) serialises the slots.
        due = _due(endpoint_id, now).order_by("next_attempt_at")
        ids = list(due.values_list("id", flat=True)[:BATCH_SIZE])
        if not ids:
            return now, []
        Delivery.objects.filter(pk__in=ids).update(
            status=Status.SENDING, next_attempt_at=now + lease()
        )
    # In publishing order: deliveries of one second keep the order their payloads were made.
    batch = (
        Delivery.objects.filter(pk__in=ids)
        .select_related("payload")
        .order_by("created_at", "payload_id")
    )
    return now, list(batch)


def _claim_batch_in_one_statement(endpoint_id: str, now: datetime) -> list[Delivery]:
    params = {"endpoint": endpoint_id, "now": now, "until": now + lease(), "n": BATCH_SIZE}
    with connection.cursor() as cursor:  # one statement: atomic without a transaction
        cursor.execute(_CLAIM, params)
        rows = cursor.fetchall()
    batch = [
        Delivery(
            id=pk,
            endpoint_id=endpoint_id,
            status=Status.SENDING,
            attempts=attempts,
            created_at=created_at,
            payload=EventPayload(id=payload_id, public_id=public_id, body=body),
        )
        for pk, attempts, created_at, payload_id, public_id, body in rows
    ]
    # In publishing order: deliveries of one second keep the order their payloads were made.
    return sorted(batch, key=lambda delivery: (delivery.created_at, delivery.payload.pk))


def _send_batch(
    endpoint: WebhookEndpoint, claimed_at: datetime, batch: list[Delivery]
) -> list[_Sent]:
    """Send in order; stop at a 410, or when another attempt might outlast the lease."""
    sent: list[_Sent] = []
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    deadline = claimed_at + lease() - timedelta(seconds=timeout + 5)
    keys = signing_keys(endpoint, claimed_at)
    try:
        target = ssrf.check_url(endpoint.url)
    except ssrf.WebhookUrlNotAllowed as exc:
        blocked = http.HttpResult(None, "", 0, f"blocked: {exc.detail}"[:300])
        return [_Sent(delivery, timezone.now(), blocked) for delivery in batch]
    for delivery in batch:
        now = timezone.now()
        if now > deadline:
            break
        body = delivery.payload.body.encode()
        headers = webhook_headers(
            keys=keys, msg_id=delivery.payload.public_id, timestamp=int(time.time()), body=body
        )
        result = http.post(target, body=body, headers=headers, timeout=timeout)
        sent.append(_Sent(delivery, now, result))
        if result.status_code == 410:
            break
    return sent


_OUTCOMES: dict[str, str] = {
    Status.SUCCEEDED: "succeeded",
    Status.PENDING: "retrying",
    Status.FAILED: "failed",
}


def _count_attempts_on_commit(statuses: list[str]) -> None:
    def count_delivery_attempts() -> None:
        for status in statuses:
            metrics.webhook_delivery_attempts.labels(outcome=_OUTCOMES[status]).inc()

    transaction.on_commit(count_delivery_attempts, robust=True)


def _apply_outcome(item: _Sent) -> None:
    """Set the delivery's fields from its attempt (in memory; _write_outcomes stores them)."""
    delivery = item.delivery
    succeeded, error = _outcome(item.result)
    delivery.attempts += 1
    gone = item.result.status_code == 410
    delay = None if succeeded or gone else next_delay(delivery.attempts)
    delivery.status = Status.SUCCEEDED if succeeded else Status.PENDING if delay else Status.FAILED
    # The schedule counts from the attempt, not from when its batch was recorded.
    delivery.next_attempt_at = item.at + delay if delay else None
    delivery.last_attempt_at = item.at
    delivery.last_status_code = item.result.status_code
    delivery.last_error = error[:300]


# One statement for a batch's outcomes on PostgreSQL, only for rows still ``sending`` (the
# UPDATE locks each row and re-checks it, as SELECT … FOR UPDATE would): Django's bulk_update
# builds a CASE per column and row, which cost most of a batch's recording.
_RECORD = """
UPDATE ecosystem_delivery AS d
   SET status = v.status, attempts = v.attempts, next_attempt_at = v.next_attempt_at,
       last_attempt_at = v.last_attempt_at, last_status_code = v.last_status_code,
       last_error = v.last_error
  FROM (VALUES {rows}) AS v (id, status, attempts, next_attempt_at, last_attempt_at,
                             last_status_code, last_error)
 WHERE d.id = v.id AND d.status = 'sending'
RETURNING d.id
"""
_RECORD_ROW = "(%s, %s, %s::smallint, %s::timestamptz, %s::timestamptz, %s::smallint, %s)"


def _write_outcomes(deliveries: list[Delivery]) -> set[str]:
    """Store each delivery's outcome if it is still ours; returns the ids stored."""
    if not deliveries:
        return set()
    if connection.vendor != "postgresql":
        ours = set(
            Delivery.objects.select_for_update()
            .filter(pk__in=[d.pk for d in deliveries], status=Status.SENDING)
            .values_list("pk", flat=True)
        )
        Delivery.objects.bulk_update([d for d in deliveries if d.pk in ours], RECORDED_FIELDS)
        return ours
    statement = _RECORD.format(rows=", ".join([_RECORD_ROW] * len(deliveries)))
    params = [getattr(d, column) for d in deliveries for column in ["pk", *RECORDED_FIELDS]]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {pk for (pk,) in cursor.fetchall()}


def _record_batch(endpoint: WebhookEndpoint, batch: list[Delivery], sent: list[_Sent]) -> None:
    from partners.webhooks.services import webhook_endpoint_disable

    now = timezone.now()
    with transaction.atomic():
        # The endpoint first, then its deliveries: the order webhook_endpoint_delete takes, so
        # a delete waits for this record (or this finds the endpoint gone) and never commits
        # with attempts it did not collect. No key changes here: FOR NO KEY UPDATE.
        if not WebhookEndpoint.objects.select_for_update(no_key=True).filter(pk=endpoint.pk):
            return
        for item in sent:
            _apply_outcome(item)
        # Only rows still ours: not deleted with their endpoint, not taken back by the sweep.
        ours = _write_outcomes([item.delivery for item in sent])
        recorded = [item for item in sent if item.delivery.pk in ours]
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(
                delivery_id=item.delivery.pk,
                number=item.delivery.attempts,
                at=item.at,
                status_code=item.result.status_code,
                latency_ms=item.result.latency_ms,
                response_body=item.result.body,
                error=item.delivery.last_error,
            )
            for item in recorded
        )
        _count_attempts_on_commit([item.delivery.status for item in recorded])
        unsent = [d.pk for d in batch[len(sent) :]]
        if unsent:
            Delivery.objects.filter(pk__in=unsent, status=Status.SENDING).update(
                status=Status.PENDING, next_attempt_at=now
            )
        if not sent:
            return
        last = sent[-1].result
        if last.status_code == 410:
            webhook_endpoint_disable(
                endpoint_id=endpoint.pk, reason=WebhookEndpoint.DisabledReason.GONE
            )
        elif _outcome(last)[0]:
            if endpoint.failing_since is not None:
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        elif endpoint.failing_since is None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
                failing_since=now
            )
        elif now - endpoint.failing_since >= timedelta(
            seconds=settings.WEBHOOK_DISABLE_AFTER_FAILING_SECONDS
        ):
            webhook_endpoint_disable(
                endpoint_id=endpoint.pk, reason=WebhookEndpoint.DisabledReason.FAILING
            )


def endpoint_deliver(*, endpoint_id: str) -> int:
    """Send what is due for one endpoint, batch by batch, within one of its sending slots.
    Returns how many requests were sent; safe to run any number of times, concurrently."""
    cache.delete(_queued_key(endpoint_id))
    slot = _take_slot(endpoint_id)
    if slot is None:
        return 0  # as many tasks as allowed are sending to it; they take this work too
    sent_total, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < TASK_BUDGET_SECONDS:
            endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).first()
            if endpoint is None:
                # Disabled while some of its deliveries were in flight: they end here.
                _due(endpoint_id, timezone.now()).update(
                    status=Status.FAILED, next_attempt_at=None, last_error="endpoint disabled"
                )
                return sent_total
            claimed_at, batch = _claim_batch(endpoint_id)
            if not batch:
                break
            if len(batch) == BATCH_SIZE:
                kick([endpoint_id])  # more is waiting: a free slot can help
            sent = _send_batch(endpoint, claimed_at, batch)
            _record_batch(endpoint, batch, sent)
            sent_total += len(sent)
    finally:
        cache.delete(slot)
    # Out of budget (busy endpoints take turns for worker threads), or work committed after
    # the last claim was kicked while this task held the only free slot: kick once more.
    if _due(endpoint_id, timezone.now()).exists():
        kick([endpoint_id])
    return sent_total


def deliveries_dispatch_due() -> int:
    """Take back deliveries whose worker died mid-attempt, and kick every endpoint with due
    deliveries. Returns how many endpoints were kicked."""
    now = timezone.now()
    lost = outbox.leases_take_back(Delivery.objects, now=now)
    due = Delivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
    endpoint_ids = list(
        due.order_by().values_list("endpoint_id", flat=True).distinct()[:SWEEP_MAX_ENDPOINTS]
    )
    kick_on_commit(endpoint_ids, force=True)
    if lost or endpoint_ids:
        logger.info(
            "webhook sweep: %d deliveries taken back, %d endpoints kicked", lost, len(endpoint_ids)
        )
    return len(endpoint_ids)
