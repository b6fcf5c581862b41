from __future__ import annotations

from celery import shared_task

from exchanges.rewards.services import previous_period, rewards_post_due, statements_close


@shared_task(acks_late=True)
def rewards_post_due_task() -> int:
    """Post pending rewards past their lock date (beat; safe to run twice)."""
    return rewards_post_due()


@shared_task(acks_late=True)
def statements_close_task(period: str | None = None) -> int:
    """Settle the previous month (beat, hourly: safe to run twice, and a missed run on the
    first of the month is made up by the next)."""
    return len(statements_close(period=period or previous_period()))
