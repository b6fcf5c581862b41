from __future__ import annotations

from celery import shared_task

from consent.services.access import access_checkpoint
from consent.services.consents import consent_requests_lapse, consents_expire
from consent.services.reminders import consent_digests_send, consent_expiry_notices_send


@shared_task(acks_late=True)
def consents_expire_task() -> int:
    return consents_expire()


@shared_task(acks_late=True)
def consent_requests_lapse_task() -> int:
    return consent_requests_lapse()


@shared_task(acks_late=True)
def access_checkpoint_task() -> int:
    """Sign the access chains' tips that moved since the last checkpoint."""
    checkpoint = access_checkpoint()
    return len(checkpoint.heads) if checkpoint else 0


@shared_task(acks_late=True)
def consent_digests_send_task() -> int:
    """The periodic digest of each due customer's consents (safe twice and concurrently)."""
    return consent_digests_send()


@shared_task(acks_late=True)
def consent_expiry_notices_send_task() -> int:
    """One notice per consent about to expire (safe twice and concurrently)."""
    return consent_expiry_notices_send()
