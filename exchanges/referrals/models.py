"""Referrals: partner A introduces a customer to partner B under the customer's consent."""

from __future__ import annotations

import json

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ecosystem import crypto
from ecosystem.ids import PrefixedId

OPEN_STATUSES = ("sent", "accepted")


class Referral(models.Model):
    """From ``from_partner`` (A) to ``to_partner`` (B) about one customer, under an active
    ``referral`` consent A→B.

    ``sent → accepted | declined | expired | withdrawn``; ``accepted → converted |
    withdrawn``. Only B accepts, declines or converts; only A withdraws (and the customer,
    by withdrawing the consent). ``snapshot_sealed`` holds exactly the categories the consent
    allowed at send time, sealed under the customer's data key (erasing the customer makes
    it unreadable); it is deleted when the referral is withdrawn or expires. The sender's
    free-text note is treated as data about the customer too (it usually is: "asked about
    meal plans"): sealed the same way in ``note_sealed``, shown only where the snapshot is,
    and deleted with it.
    """

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"
        CONVERTED = "converted", "Converted"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("ref"), editable=False
    )
    from_partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="referrals_sent"
    )
    to_partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="referrals_received"
    )
    partnership = models.ForeignKey(
        "partners.Partnership", on_delete=models.PROTECT, related_name="referrals"
    )
    customer = models.ForeignKey(
        "consent.Customer", on_delete=models.PROTECT, related_name="referrals"
    )
    consent = models.ForeignKey("consent.Consent", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    note_sealed = models.TextField(blank=True, default="")
    snapshot_categories = models.JSONField(default=list)
    snapshot_sealed = models.TextField(blank=True, default="")
    reason = models.CharField(max_length=300, blank=True)
    value_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    value_currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The table keeps the name it had when referrals lived in the partners app.
        db_table = "partners_referral"
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_partner=models.F("to_partner")), name="referral_not_to_self"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["sent", "accepted", "declined", "expired", "withdrawn", "converted"]
                ),
                name="referral_status_valid",
            ),
            models.UniqueConstraint(
                fields=["from_partner", "to_partner", "customer"],
                condition=Q(status__in=OPEN_STATUSES),
                name="referral_one_open_per_pair",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OPEN_STATUSES)
                | Q(status="converted")
                | Q(snapshot_sealed="", note_sealed=""),
                name="referral_closed_has_no_snapshot",
            ),
        ]
        indexes = [
            models.Index(fields=["to_partner", "-created_at"], name="referral_inbound_idx"),
            models.Index(fields=["from_partner", "-created_at"], name="referral_outbound_idx"),
            models.Index(fields=["status", "expires_at"], name="referral_expiry_idx"),
        ]

    def __str__(self) -> str:
        return self.id

    def _aad(self, column: str = "snapshot_sealed") -> bytes:
        return crypto.associated_data(self._meta.db_table, column, self.pk)

    def seal_snapshot(self, data: dict[str, str], *, note: str = "", data_key: bytes) -> None:
        self.snapshot_categories = sorted(data)
        self.snapshot_sealed = crypto.seal(json.dumps(data), data_key=data_key, aad=self._aad())
        self.note_sealed = (
            crypto.seal(note, data_key=data_key, aad=self._aad("note_sealed")) if note else ""
        )

    def open_snapshot(self, *, data_key: bytes) -> dict[str, str]:
        if not self.snapshot_sealed:
            return {}
        return json.loads(crypto.unseal(self.snapshot_sealed, data_key=data_key, aad=self._aad()))

    def open_note(self, *, data_key: bytes) -> str:
        if not self.note_sealed:
            return ""
        return crypto.unseal(self.note_sealed, data_key=data_key, aad=self._aad("note_sealed"))

    def forget_snapshot(self) -> None:
        self.snapshot_sealed = self.note_sealed = ""
