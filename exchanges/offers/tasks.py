from __future__ import annotations

from celery import shared_task

from exchanges.offers.services import offers_publish_due, offers_retire_ended


@shared_task(acks_late=True)
def offers_publish_due_task() -> int:
    return offers_publish_due()


@shared_task(acks_late=True)
def offers_retire_ended_task() -> int:
    return offers_retire_ended()
