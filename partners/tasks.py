from __future__ import annotations

from celery import shared_task

from partners.services.partnerships import partnerships_end_lapsed


@shared_task(acks_late=True)
def partnerships_end_lapsed_task() -> int:
    """End the partnerships whose validity window has closed."""
    return partnerships_end_lapsed()
