from __future__ import annotations

from celery import shared_task

from exchanges.rewards.services import rewards_post_due


@shared_task(acks_late=True)
def rewards_post_due_task() -> int:
    """Post pending rewards past their lock date (beat; safe to run twice)."""
    return rewards_post_due()
