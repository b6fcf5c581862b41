"""The email outbox's writers. Every email goes out through ``email_queue``, called inside
the transaction of the change it reports, so the email exists exactly when the change
committed; a worker sends it after the commit and the sweep re-drives what is due.

Customers' addresses and the bodies written to them are personal data: they are sealed in
``Email.content``, never logged (errors are recorded by kind and SMTP code only), cleared
once sent or given up, and purged with the customer (``emails_purge``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from smtplib import SMTPException, SMTPResponseException

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from ecosystem import outbox
from ecosystem.models import Email

logger = logging.getLogger(__name__)
Status = Email.Status
SWEEP_MAX_EMAILS = 500


class EmailNotSent(Exception):
    """The mail server refused or was unreachable; the email is rescheduled. The message
    names the email and the error's kind only: never an address."""

    def __init__(self, email_id: str, error: str, retry_in: timedelta) -> None:
        super().__init__(f"{email_id}: {error}")
        self.retry_in = retry_in


def lease() -> timedelta:
    """How long a claimed email is left to its worker before the sweep takes it back."""
    return timedelta(seconds=max(60, 3 * settings.EMAIL_TIMEOUT))


def _send_tasks(email_ids: list[str]) -> None:
    from ecosystem.tasks import email_send_task  # the tasks module imports this one

    for email_id in email_ids:
        email_send_task.delay(email_id)


def email_queue(
    *,
    kind: str,
    to: Sequence[str],
    subject: str,
    body: str,
    data_subject: str = "",
    html: str = "",
) -> Email:
    """Write an email to the outbox in the caller's transaction and send it once that
    commits (a rollback sends nothing). ``data_subject`` is the customer id (``cst_…``) when
    the email goes to a customer or carries their data, so erasure purges it. ``html``, if
    given, goes with the plain ``body`` as its alternative (sealed alike)."""
    recipients = [address for address in to if address]
    if not recipients:
        raise ValueError("An email needs a recipient.")
    with transaction.atomic(savepoint=False):
        email = Email(
            kind=kind,
            data_subject=data_subject,
            content=json.dumps(
                {"to": recipients, "subject": subject, "body": body}
                | ({"html": html} if html else {})
            ),
            next_attempt_at=timezone.now(),
        )
        email.save(force_insert=True)
        outbox.after_commit(_send_tasks, [email.pk])
    return email


def _error(exc: Exception) -> str:
    code = exc.smtp_code if isinstance(exc, SMTPResponseException) else None
    return f"{type(exc).__name__}{f' {code}' if code else ''}"[:100]


def email_send(*, email_id: str) -> bool:
    """Send one email if it is due and not being sent; safe to run any number of times,
    concurrently. Returns True once sent. On a mail-server error the attempt is recorded and
    the email rescheduled (``EmailNotSent``, so the task retries it on the same schedule),
    or, with the schedule used up, marked failed and its content cleared."""
    now = timezone.now()
    claimed = Email.objects.filter(
        pk=email_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(status=Status.SENDING, next_attempt_at=now + lease())
    if not claimed:
        return False  # sent, purged, not due yet, or another worker has it
    email = Email.objects.get(pk=email_id)
    content = json.loads(email.content or "{}")
    message = EmailMultiAlternatives(
        subject=content["subject"], body=content["body"], from_email=None, to=content["to"]
    )
    if content.get("html"):
        message.attach_alternative(content["html"], "text/html")
    failure: Exception | None = None
    try:
        message.send()
    except (SMTPException, OSError) as exc:
        failure = exc
    finally:
        del content, message
    with transaction.atomic():
        # Only if still ours: not purged by an erasure, not taken back by the sweep.
        row = Email.objects.select_for_update().filter(pk=email_id, status=Status.SENDING).first()
        if row is None:
            return failure is None
        email = row
        done = timezone.now()
        email.attempts += 1
        email.last_attempt_at = done
        delay = None
        if failure is None:
            email.status, email.sent_at, email.last_error = Status.SENT, done, ""
        else:
            email.last_error = _error(failure)
            delay = outbox.retry_delay(email.attempts, settings.EMAIL_RETRY_SCHEDULE)
        email.status = (
            Status.SENT if failure is None else Status.PENDING if delay else Status.FAILED
        )
        email.next_attempt_at = done + delay if delay else None
        fields = ["status", "attempts", "next_attempt_at", "last_attempt_at", "last_error"]
        if email.next_attempt_at is None:
            email.content = None
            fields.append("content")
        email.save(update_fields=[*fields, "sent_at"])
    if failure is not None:
        logger.warning("email %s (%s) not sent: %s", email.pk, email.kind, email.last_error)
        if delay is not None:
            raise EmailNotSent(email.pk, email.last_error, delay)
    return failure is None


def emails_dispatch_due() -> int:
    """Take back emails whose worker died mid-attempt and queue a send for every email that
    is due (the beat sweep). Returns how many were queued."""
    now = timezone.now()
    lost = outbox.leases_take_back(Email.objects, now=now)
    due = list(
        Email.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_MAX_EMAILS]
    )
    if due:
        outbox.after_commit(_send_tasks, due)
    if lost or due:
        logger.info("email sweep: %d taken back, %d queued", lost, len(due))
    return len(due)


def emails_purge(*, data_subject: str) -> int:
    """Delete every email about one customer, sent or not (their erasure calls this in its
    transaction): a queued one is never sent, and no row keeps a trace of the customer."""
    if not data_subject:
        raise ValueError("Name the data subject whose emails to purge.")
    deleted, _ = Email.objects.filter(data_subject=data_subject).delete()
    return deleted


def emails_backlog() -> tuple[int, datetime | None]:
    """Emails not yet sent and the oldest one's queueing time, for the metrics scrape."""
    row = Email.objects.filter(status__in=[Status.PENDING, Status.SENDING]).aggregate(
        depth=Count("id"), oldest=Min("created_at")
    )
    return row["depth"], row["oldest"]
