from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from ecosystem.models import AuditEntry
from ecosystem.services.audit import audit_record
from ecosystem.services.idempotency import idempotency_purge

# Every task that sends one email: retried with backoff while the mail server is away.
EMAIL_RETRIES = {
    "acks_late": True,
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 30,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(acks_late=True)
def idempotency_purge_task() -> int:
    return idempotency_purge()


@shared_task(acks_late=True)
def worker_probe_task(token: str) -> None:
    """Proves a worker consumes the broker and writes to the database (check_worker)."""
    if not AuditEntry.objects.filter(action="worker.probe", object_id=token).exists():
        audit_record(actor=None, action="worker.probe", object_type="probe", object_id=token)
