from __future__ import annotations

from celery import shared_task

from partners.referrals.services import referrals_expire
from partners.services.partnerships import partnerships_end_lapsed


@shared_task(acks_late=True)
def referrals_expire_task() -> int:
    return referrals_expire()


@shared_task(acks_late=True)
def partnerships_end_lapsed_task() -> int:
    """End the partnerships whose validity window has closed."""
    return partnerships_end_lapsed()
