"""The event outbox and webhook delivery (DESIGN.md, WebhookEndpoint / Delivery).

An endpoint belongs to a partner, and consent and the exchanges publish events, so this app
sits in the partner directory, above the partners it serves and below every publisher. The
tables keep the names they had when this lived in the ecosystem app.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ecosystem.fields import EncryptedTextField
from ecosystem.ids import PrefixedId

# The catalogue partners subscribe to (docs/webhooks.md describes each).
EVENT_TYPES: dict[str, str] = {
    "ping": "A test event sent on request to one endpoint",
    "customer.link_confirmed": "A customer confirmed their link to this partner",
    "customer.link_refused": "A customer refused a link to this partner",
    "customer.erased": "A customer erased their account; forget this customer id",
    "consent.granted": "A consent involving this partner became active",
    "consent.refused": "A customer refused a consent request",
    "consent.lapsed": "A consent request went unanswered",
    "consent.withdrawn": "A customer withdrew a consent",
    "consent.expired": "A consent reached its expiry",
    "consent.terminated": "A consent ended because its partnership or partner did",
    "referral.received": "A referral was sent to this partner",
    "referral.accepted": "A referral this partner sent was accepted",
    "referral.declined": "A referral this partner sent was declined",
    "referral.converted": "A referral was converted",
    "referral.withdrawn": "A referral was withdrawn",
    "referral.expired": "A referral expired unanswered",
    "reward.issued": "A reward this partner funds or receives was issued (pending)",
    "reward.posted": "A reward this partner funds or receives reached its lock date",
    "reward.voided": "A reward this partner funds or receives was voided or reversed",
    "offer.published": "An offer this partner sponsors was published",
    "offer.retired": "An offer this partner sponsors was retired",
    "offer.redeemed": "An offer this partner sponsors was redeemed",
}
SUBSCRIBABLE_EVENT_TYPES = [name for name in EVENT_TYPES if name != "ping"]


# What anyone may be shown of an endpoint, admins included: never the signing secrets.
ENDPOINT_DISCLOSED_FIELDS = (
    "id",
    "url",
    "description",
    "event_types",
    "enabled",
    "disabled_reason",
    "signature_scheme",
    "public_key",
    "previous_secret_expires_at",
    "failing_since",
    "created_at",
    "updated_at",
)


class WebhookEndpoint(models.Model):
    """A partner's HTTPS endpoint and the event types it receives.

    ``secret`` is what signs: ``whsec_…`` (HMAC, ``v1``) or ``whsk_…`` (an Ed25519 private
    key, ``v1a``, whose ``whpk_…`` public key is published). After a rotation the previous
    secret keeps signing beside the new one until ``previous_secret_expires_at``.
    """

    class SignatureScheme(models.TextChoices):
        HMAC = "v1", "v1 (HMAC-SHA256, shared secret)"
        ED25519 = "v1a", "v1a (Ed25519, public key)"

    class DisabledReason(models.TextChoices):
        NONE = "", "Enabled"
        PARTNER = "partner", "Disabled by the partner"
        GONE = "gone", "The endpoint answered 410 Gone"
        FAILING = "failing", "Failing for too long"

    # Why the gateway switched an endpoint off, as the console says it ("… because …").
    GATEWAY_OFF_BECAUSE = {
        DisabledReason.GONE: "it answered 410 Gone",
        DisabledReason.FAILING: "it failed for too long",
    }

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("whe"), editable=False
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(default=list, help_text="Event types sent to this endpoint.")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=10, choices=DisabledReason.choices, blank=True, default=DisabledReason.NONE
    )
    signature_scheme = models.CharField(
        max_length=3, choices=SignatureScheme.choices, default=SignatureScheme.HMAC
    )
    secret = EncryptedTextField()
    public_key = models.CharField(max_length=60, blank=True, help_text="whpk_… for v1a.")
    previous_secret = EncryptedTextField(null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ecosystem_webhookendpoint"
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(enabled=True, disabled_reason="")
                | Q(enabled=False, disabled_reason__in=["partner", "gone", "failing"]),
                name="webhook_endpoint_disabled_reason_valid",
            ),
            models.CheckConstraint(
                condition=Q(signature_scheme__in=["v1", "v1a"]),
                name="webhook_endpoint_scheme_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.url}"


class Event(models.Model):
    """One thing that happened, written to the outbox in the transaction that caused it.

    Its ``id`` is internal and never shown to a partner: each partner knows the event by its
    own payload's ``public_id``, so partners told of the same event cannot join on its id.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("evt"), editable=False
    )
    type = models.CharField(max_length=40, choices=[(name, name) for name in EVENT_TYPES])
    created_at = models.DateTimeField(db_index=True)

    # Not stored: set by event_publish to the partners it created deliveries for, and to each
    # partner's own event id, so the caller need not read them back.
    delivered_to: frozenset[str] = frozenset()
    public_ids: dict[str, str] = {}

    class Meta:
        db_table = "ecosystem_event"
        ordering = ("-created_at", "id")

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EventPayload(models.Model):
    """An event as one entitled partner sees it: rendered at publish time, naming only that
    partner's own ids. ``body`` is the exact JSON text every delivery sends and signs.

    ``public_id`` is this partner's own id for the event (``evt_…``): the ``webhook-id`` of
    every delivery and retry of it, and its id in ``GET /api/v1/events``. Random and
    different for every partner, so two partners cannot link what they were told.
    """

    public_id = models.CharField(max_length=40, unique=True, default=PrefixedId("evt"))
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="payloads")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(help_text="The event's time, copied for the partner's log.")

    class Meta:
        db_table = "ecosystem_eventpayload"
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["event", "partner"], name="event_payload_unique"),
        ]
        indexes = [
            models.Index(fields=["partner", "created_at"], name="event_payload_partner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} for {self.partner_id}"


class Delivery(models.Model):
    """One payload on its way to one endpoint; ``next_attempt_at`` is its schedule.

    ``pending`` is due once ``next_attempt_at`` passes; ``sending`` is claimed by a worker,
    leased until ``next_attempt_at`` (then the sweep takes it back); ``succeeded`` and
    ``failed`` are final until a manual retry. ``attempts`` counts recorded attempts.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("dlv"), editable=False
    )
    payload = models.ForeignKey(EventPayload, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # The event's time (whole seconds) when made by event_publish: every partner's delivery
    # of one event shows the same time, not microseconds apart that would pair them up.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "ecosystem_delivery"
        ordering = ("-created_at", "id")
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["payload", "endpoint"], name="delivery_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "succeeded", "failed"]),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["succeeded", "failed"]) | Q(next_attempt_at__isnull=False),
                name="delivery_open_has_next_attempt",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["partner", "created_at"], name="delivery_partner_idx"),
            models.Index(
                fields=["endpoint", "status", "next_attempt_at"], name="delivery_endpoint_due_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery and what came back."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    response_body = models.TextField(blank=True, help_text="The first 2 KiB of the response.")
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        db_table = "ecosystem_deliveryattempt"
        ordering = ("delivery_id", "number", "id")

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
