"""Readers for webhook endpoints, deliveries and the partner's event log, always scoped to
one partner so another partner's ids are simply not found."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from partners.webhooks.models import Delivery, EventPayload, WebhookEndpoint

EVENT_LOG_DAYS = 30


def webhook_endpoints_for(*, partner_id: str) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner_id=partner_id)


def deliveries_for(
    *,
    partner_id: str,
    endpoint_id: str | None = None,
    event_type: str | None = None,
    status: str | None = None,
) -> QuerySet[Delivery]:
    deliveries = (
        Delivery.objects.filter(partner_id=partner_id)
        .select_related("event", "payload")
        .defer("payload__body")
    )
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries


def event_log_for(
    *,
    partner_id: str,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[EventPayload]:
    """This partner's own payloads of the last 30 days (``since`` inclusive, ``until``
    exclusive), for reconciling after an outage."""
    oldest = timezone.now() - timedelta(days=EVENT_LOG_DAYS)
    payloads = EventPayload.objects.filter(
        partner_id=partner_id, created_at__gte=max(oldest, since or oldest)
    ).select_related("event")
    if until:
        payloads = payloads.filter(created_at__lt=until)
    if event_type:
        payloads = payloads.filter(event__type=event_type)
    return payloads
