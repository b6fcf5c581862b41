from __future__ import annotations

from celery import shared_task

from consent import emails
from consent.services.access import access_checkpoint
from consent.services.consents import consent_requests_lapse, consents_expire
from ecosystem.tasks import EMAIL_RETRIES


@shared_task(**EMAIL_RETRIES)
def link_invitation_email_task(link_id: str) -> int:
    return emails.link_invitation_send(link_id=link_id)


@shared_task(**EMAIL_RETRIES)
def consents_terminated_email_task(customer_id: str, consent_ids: list[str]) -> int:
    return emails.consents_terminated_send(customer_id=customer_id, consent_ids=consent_ids)


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
