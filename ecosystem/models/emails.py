"""The email outbox: every email the gateway sends is a row written in the transaction that
decided to send it, then sent by a worker and re-driven by the sweep (ecosystem.outbox)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ecosystem.fields import EncryptedTextField
from ecosystem.ids import PrefixedId


class Email(models.Model):
    """One email on its way out.

    ``content`` (recipients, subject and body, as JSON) is sealed with the field keys and
    bound to this row; it is cleared once the email is sent or given up, so addresses and
    bodies live only as long as they must. ``data_subject`` names the customer (``cst_…``)
    whose address or data the email carries, so erasing the customer purges it; it is empty
    for mail to partners' staff. ``kind`` and the counters are all anyone is shown.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("eml"), editable=False
    )
    kind = models.CharField(max_length=60, help_text="What the email is, e.g. link.invitation.")
    data_subject = models.CharField(max_length=40, blank=True, default="", db_index=True)
    content = EncryptedTextField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(
        max_length=100, blank=True, help_text="The error's kind and SMTP code, never its text."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed"]),
                name="email_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["sent", "failed"], next_attempt_at__isnull=True)
                | Q(status__in=["pending", "sending"], next_attempt_at__isnull=False),
                name="email_open_has_next_attempt",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending"]) | Q(content__isnull=True),
                name="email_done_has_no_content",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="email_due_idx")]

    def __str__(self) -> str:
        return f"{self.id} {self.kind} ({self.status})"
