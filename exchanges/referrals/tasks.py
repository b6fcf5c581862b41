from __future__ import annotations

from celery import shared_task

from exchanges.referrals.services import referrals_expire


@shared_task(acks_late=True)
def referrals_expire_task() -> int:
    return referrals_expire()
