"""Signed consent receipts and the hash-chained record of every access to customer data."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ecosystem.ids import PrefixedId


class ConsentReceipt(models.Model):
    """One party's signed copy (compact JWS, EdDSA) of one consent transition. The
    customer's copy (``partner`` null) names them by their opaque customer id; each partner's
    names only that partner's pairwise id. Written in the transition's transaction."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("rcp"), editable=False
    )
    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.PROTECT, related_name="receipts"
    )
    event = models.ForeignKey(
        "consent.ConsentEvent", on_delete=models.PROTECT, related_name="receipts"
    )
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    principal_id = models.CharField(max_length=40)
    jws = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("consent_id", "created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "partner"],
                condition=Q(partner__isnull=False),
                name="receipt_one_per_partner_event",
            ),
            models.UniqueConstraint(
                fields=["event"],
                condition=Q(partner__isnull=True),
                name="receipt_one_customer_copy_per_event",
            ),
        ]
        indexes = [
            models.Index(fields=["consent", "partner", "-created_at"], name="receipt_lookup_idx")
        ]

    def __str__(self) -> str:
        return self.id


class AccessEvent(models.Model):
    """Customer data other than a partner's own pairwise id left the gateway (an API
    response, a webhook payload) or an admin opened a customer's PII.

    Append-only and hash-chained per customer: ``hash`` covers this row's fields and the
    previous row's hash, and names no PII (ids, purposes, field names), so an erased
    customer's chain still verifies. ``AccessChainHead`` holds each chain's tip (the only row
    locked when appending); signed ``AccessCheckpoint`` rows pin the tips, so a removed tail
    or a removed chain shows too (``manage.py verify_audit_chain``).
    """

    class Channel(models.TextChoices):
        API = "api", "API response"
        WEBHOOK = "webhook", "Webhook payload"
        ADMIN = "admin", "Admin view"

    customer = models.ForeignKey(
        "consent.Customer", on_delete=models.PROTECT, related_name="access_events"
    )
    seq = models.PositiveIntegerField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    actor = models.CharField(max_length=80)
    partner = models.ForeignKey(
        "partners.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.CharField(max_length=50, blank=True)
    consent = models.ForeignKey(
        "consent.Consent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A link's status is disclosed under the customer's own answer to the invitation (the
    # link), not under a consent record: such rows name the link instead.
    link = models.ForeignKey(
        "consent.PartnerLink", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fields = models.JSONField(default=list)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ("customer_id", "seq")
        constraints = [
            models.UniqueConstraint(fields=["customer", "seq"], name="access_event_chain_seq"),
        ]
        indexes = [models.Index(fields=["partner", "at"], name="access_event_partner_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}#{self.seq}"


class AccessChainHead(models.Model):
    """The tip of one customer's access chain: locked (alone) to append a row."""

    customer = models.OneToOneField(
        "consent.Customer", primary_key=True, on_delete=models.PROTECT, related_name="+"
    )
    seq = models.PositiveIntegerField(default=0)
    hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("customer_id",)

    def __str__(self) -> str:
        return f"{self.customer_id}@{self.seq}"


class AccessCheckpoint(models.Model):
    """A signed snapshot of the chain tips that moved since the previous checkpoint (beat).
    Every tip ever checkpointed must still be in its chain, so deleting a chain's newest rows,
    or a whole chain, is detected."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)
    heads = models.JSONField(default=dict)
    jws = models.TextField()

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"checkpoint {self.id} ({len(self.heads)} chains)"
