from __future__ import annotations

from typing import Any

from celery import shared_task

from ecosystem.models import AuditEntry
from ecosystem.services.audit import audit_record
from ecosystem.services.emails import EmailNotSent, email_send, emails_dispatch_due
from ecosystem.services.idempotency import idempotency_purge


@shared_task(acks_late=True)
def idempotency_purge_task() -> int:
    return idempotency_purge()


@shared_task(acks_late=True)
def worker_probe_task(token: str) -> None:
    """Proves a worker consumes the broker and writes to the database (check_worker)."""
    if not AuditEntry.objects.filter(action="worker.probe", object_id=token).exists():
        audit_record(actor=None, action="worker.probe", object_type="probe", object_id=token)


@shared_task(bind=True, acks_late=True, max_retries=None)
def email_send_task(self: Any, email_id: str) -> bool:
    """Send one outbox email. On a mail-server error Celery retries it after the backoff
    (with jitter) that the outbox recorded on the row, so the retry and the sweep follow one
    schedule; the schedule, not Celery, decides when to give up. A retry lost with the
    broker or worker is re-driven by the sweep."""
    try:
        return email_send(email_id=email_id)
    except EmailNotSent as exc:
        # A second late, so the retry finds the email due rather than a moment early.
        raise self.retry(countdown=exc.retry_in.total_seconds() + 1, exc=exc) from None


@shared_task(acks_late=True)
def email_sweep_task() -> int:
    return emails_dispatch_due()
