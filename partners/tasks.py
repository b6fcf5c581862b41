from __future__ import annotations

from celery import shared_task

from partners.oauth.token_cache import grant_invalidations_replay
from partners.services.partnerships import partnerships_end_lapsed


@shared_task(acks_late=True)
def grant_invalidations_replay_task() -> int:
    """Apply to the token cache the revocations it missed (it was down at commit time)."""
    return grant_invalidations_replay()


@shared_task(acks_late=True)
def partnerships_end_lapsed_task() -> int:
    """End the partnerships whose validity window has closed."""
    return partnerships_end_lapsed()
