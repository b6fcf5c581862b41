from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from ecosystem.models import AuditEntry
from ecosystem.services.audit import audit_record
from ecosystem.services.events import events_purge
from ecosystem.services.idempotency import idempotency_purge
from ecosystem.webhooks.alerts import endpoint_disabled_notify
from ecosystem.webhooks.delivery import deliveries_dispatch_due, endpoint_deliver

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


@shared_task(acks_late=True)
def webhook_deliver_task(endpoint_id: str) -> int:
    """Send what is due for one endpoint. Not retried by Celery: a failed attempt is
    rescheduled in the database, and a task lost with its worker is replaced by the sweep."""
    return endpoint_deliver(endpoint_id=endpoint_id)


@shared_task(acks_late=True)
def webhook_sweep_task() -> int:
    return deliveries_dispatch_due()


@shared_task(**EMAIL_RETRIES)
def webhook_endpoint_disabled_email_task(endpoint_id: str) -> int:
    return endpoint_disabled_notify(endpoint_id=endpoint_id)


@shared_task(acks_late=True)
def events_purge_task() -> int:
    return events_purge()
