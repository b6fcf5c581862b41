"""The event outbox: both apps publish through ``event_publish`` inside their own
transaction, so an event exists (and is delivered) exactly when the change that caused it
committed. docs/webhooks.md lists the event types and the payload shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from partners.webhooks.delivery import kick_on_commit
from partners.webhooks.models import EVENT_TYPES, Delivery, Event, EventPayload, WebhookEndpoint


def render_body(event_type: str, at: datetime, data: Mapping[str, Any]) -> str:
    """The Standard Webhooks payload shape: ``{"type", "timestamp", "data"}``."""
    document = {
        "type": event_type,
        "timestamp": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "data": data,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"))


def event_publish(
    *,
    type: str,
    payloads: Mapping[str, Mapping[str, Any]],
    endpoint: WebhookEndpoint | None = None,
    subscribers: list[WebhookEndpoint] | None = None,
) -> Event:
    """Write an event, each entitled partner's own payload, and a delivery to every enabled
    endpoint of those partners that subscribes to ``type``; queue the deliveries once the
    caller's transaction commits (a rollback leaves nothing to deliver).

    ``payloads`` maps a partner id to the data that partner may see, rendered now: name only
    that partner's own ids (its pairwise customer id, never another partner's) and ids of
    objects the partners already share (a referral or consent between them). Each partner
    gets its own random event id (``event.public_ids``), its ``webhook-id``. ``endpoint``
    sends the event to that one endpoint instead of to the subscribers (test pings).
    ``subscribers``: the enabled endpoints of the payloads' partners, with their ids, partner
    ids and event types, when the caller read them already in its own transaction (a
    referral create reads them with its facts), to save the query.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {type!r}; add it to EVENT_TYPES and the docs.")
    # No savepoint: the rows live or die with the caller's transaction, and a savepoint per
    # event would cost two more round trips on the publishing path.
    with transaction.atomic(savepoint=False):
        # Whole seconds: the time is told to every partner, and a microsecond would let
        # two of them recognise the same event by it.
        now = timezone.now().replace(microsecond=0)
        event = Event.objects.create(type=type, created_at=now)
        rows = EventPayload.objects.bulk_create(
            EventPayload(
                event=event,
                partner_id=partner_id,
                body=render_body(type, now, data),
                created_at=now,
            )
            for partner_id, data in payloads.items()
        )
        by_partner = {row.partner_id: row for row in rows}
        if endpoint is not None:
            endpoints = [endpoint]
        elif subscribers is not None:
            endpoints = [
                candidate
                for candidate in subscribers
                if candidate.partner_id in by_partner and type in candidate.event_types
            ]
        else:
            candidates = WebhookEndpoint.objects.filter(partner_id__in=by_partner, enabled=True)
            # Filtered here rather than in SQL: SQLite has no JSON containment lookup.
            endpoints = [
                candidate
                for candidate in candidates.only("id", "partner_id", "event_types")
                if type in candidate.event_types
            ]
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                payload=by_partner[target.partner_id],
                endpoint=target,
                event=event,
                partner_id=target.partner_id,
                next_attempt_at=now,
                created_at=now,
            )
            for target in endpoints
        )
        if deliveries:
            kick_on_commit(delivery.endpoint_id for delivery in deliveries)
    event.delivered_to = frozenset(delivery.partner_id for delivery in deliveries)
    event.public_ids = {row.partner_id: row.public_id for row in rows}
    return event


def events_purge() -> int:
    """Delete events older than the retention period and not still being delivered."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    still_open = Delivery.objects.filter(
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    )
    _total, per_model = (
        Event.objects.filter(created_at__lt=cutoff)
        .exclude(pk__in=still_open.values("event_id"))
        .delete()
    )
    return per_model.get(Event._meta.label, 0)
