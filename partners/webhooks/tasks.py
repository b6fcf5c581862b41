"""Webhook delivery, its sweep and the event purge."""

from __future__ import annotations

from celery import shared_task

from partners.webhooks.delivery import deliveries_dispatch_due, endpoint_deliver
from partners.webhooks.events import events_purge


@shared_task(acks_late=True)
def webhook_deliver_task(endpoint_id: str) -> int:
    """Send what is due for one endpoint. Not retried by Celery: a failed attempt is
    rescheduled in the database, and a task lost with its worker is replaced by the sweep."""
    return endpoint_deliver(endpoint_id=endpoint_id)


@shared_task(acks_late=True)
def webhook_sweep_task() -> int:
    return deliveries_dispatch_due()


@shared_task(acks_late=True)
def events_purge_task() -> int:
    return events_purge()
