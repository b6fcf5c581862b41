"""Consent records, their transitions, and who was told about them."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from ecosystem.ids import PrefixedId

MAX_CONSENT_DAYS = 365
LIVE_STATUSES = ("requested", "active")


class SecondsBetween(models.Func):
    """``end - start`` in seconds, portable enough for a CHECK constraint (SQLite's
    ``julianday`` and PostgreSQL's ``extract(epoch …)`` are both built in and immutable)."""

    output_field = models.FloatField()

    def __init__(self, start: str, end: str) -> None:
        super().__init__(F(start), F(end))

    def as_sql(self, compiler, connection, **extra):
        start_sql, start_params = compiler.compile(self.source_expressions[0])
        end_sql, end_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "sqlite":
            sql = f"((julianday({end_sql}) - julianday({start_sql})) * 86400.0)"
        else:
            sql = f"EXTRACT(EPOCH FROM ({end_sql} - {start_sql}))"
        return sql, (*end_params, *start_params)


class Consent(models.Model):
    """One customer's consent for ``source`` to share ``data_categories`` with ``recipient``
    for ``purpose`` (source = recipient for single-partner purposes such as ``link``).

    Lifecycle: requested → active | refused | lapsed; active → withdrawn | expired |
    terminated | superseded. Terminal states never reopen: consenting again, or amending,
    writes a new record. Only the services in ``consent.services`` change ``status``; each
    transition appends a ``ConsentEvent``. At most one live (requested or active) record per
    customer, purpose, source and recipient. ``expires_at`` is enforced when read: an active
    record past it is honoured nowhere, whether or not the expiry job has marked it.

    Mapping to ISO/IEC TS 27560:2023 (consent record information structure):

    ======================================  =================================================
    27560 element                           here
    ======================================  =================================================
    record identifier                       ``id`` (``con_…``)
    PII principal identifier                ``customer`` (opaque ``cst_…``; partners see their
                                            pairwise ``cus_…``)
    PII controller(s), recipients           ``source`` and ``recipient`` partners
    purposes (purpose, lawful basis)        ``purpose``; lawful basis is consent throughout
    PII categories                          ``data_categories``
    notice presented (id, language, hash)   ``notice``, ``notice_version``,
                                            ``notice_language``, ``notice_sha256``
    consent collection method               ``method`` (+ ``requested_by_client``)
    event: type, timestamp, state           ``ConsentEvent`` rows; ``status``
    validity / duration                     ``granted_at``, ``expires_at``
    withdrawal / termination                ``ended_at``, ``ended_reason``
    jurisdiction / processing agreement     ``partnership`` and ``partnership_version``
    records it replaces                     ``supersedes``
    ======================================  =================================================
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        ACTIVE = "active", "Active"
        REFUSED = "refused", "Refused"
        LAPSED = "lapsed", "Lapsed"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"
        TERMINATED = "terminated", "Terminated"
        SUPERSEDED = "superseded", "Superseded"

    # The moves ``status`` allows (ecosystem.transitions); terminal states never reopen.
    TRANSITIONS = {
        Status.REQUESTED: {Status.ACTIVE, Status.REFUSED, Status.LAPSED},
        Status.ACTIVE: {Status.WITHDRAWN, Status.EXPIRED, Status.TERMINATED, Status.SUPERSEDED},
    }

    class Method(models.TextChoices):
        PORTAL = "portal", "Portal"
        CONNECT = "connect", "Connect screen"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("con"), editable=False
    )
    customer = models.ForeignKey(
        "consent.Customer", on_delete=models.PROTECT, related_name="consents"
    )
    purpose = models.ForeignKey("partners.Purpose", on_delete=models.PROTECT, related_name="+")
    source = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    data_categories = models.JSONField(default=list)
    status = models.CharField(max_length=12, choices=Status.choices)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.PORTAL)
    partnership = models.ForeignKey(
        "partners.Partnership", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    partnership_version = models.PositiveIntegerField(null=True, blank=True)
    notice = models.ForeignKey("consent.Notice", on_delete=models.PROTECT, related_name="+")
    notice_version = models.PositiveIntegerField()
    notice_language = models.CharField(max_length=10)
    notice_sha256 = models.CharField(max_length=64)
    request_message = models.TextField(max_length=500, blank=True)
    requested_by_client = models.CharField(max_length=40, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(default=timezone.now)
    lapses_at = models.DateTimeField(null=True, blank=True)
    granted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=300, blank=True)
    # When the customer was told that this consent is about to expire (once, never again).
    expiry_notice_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "purpose", "source", "recipient"],
                condition=Q(status__in=LIVE_STATUSES),
                name="consent_one_live_record",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "requested",
                        "active",
                        "refused",
                        "lapsed",
                        "withdrawn",
                        "expired",
                        "terminated",
                        "superseded",
                    ]
                ),
                name="consent_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "refused", "lapsed"])
                | Q(granted_at__isnull=False, expires_at__isnull=False),
                name="consent_granted_has_window",
            ),
            models.CheckConstraint(
                condition=Q(granted_at__isnull=True)  # type: ignore[arg-type]
                | Q(expires_at__isnull=True)
                | (
                    Q(expires_at__gt=F("granted_at"))
                    & LessThanOrEqual(
                        SecondsBetween("granted_at", "expires_at"),
                        # One second of slack for SQLite's floating-point julianday.
                        MAX_CONSENT_DAYS * 86_400 + 1,
                    )
                ),
                name="consent_at_most_365_days",
            ),
        ]
        indexes = [
            models.Index(
                fields=["customer", "source", "recipient", "purpose"],
                condition=Q(status="active"),
                name="consent_active_lookup_idx",
            ),
            models.Index(fields=["status", "expires_at"], name="consent_status_expiry_idx"),
            models.Index(fields=["status", "lapses_at"], name="consent_status_lapse_idx"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_single_partner(self) -> bool:
        return self.source_id == self.recipient_id

    def effective_status(self, now: datetime | None = None) -> str:
        """The status as it stands now: an active record past its expiry is expired, and a
        request past its lapse time has lapsed, even before the beat jobs mark them."""
        now = now or timezone.now()
        if self.status == self.Status.ACTIVE and self.expires_at and self.expires_at <= now:
            return self.Status.EXPIRED
        if self.status == self.Status.REQUESTED and self.lapses_at and self.lapses_at <= now:
            return self.Status.LAPSED
        return self.status

    def is_honoured(self, now: datetime | None = None) -> bool:
        return self.effective_status(now) == self.Status.ACTIVE


class ConsentEvent(models.Model):
    """One transition of a consent, appended and never changed: who moved it, how, why."""

    class Method(models.TextChoices):
        PORTAL = "portal", "Customer in the portal"
        API = "api", "Partner API"
        WRITTEN_REQUEST = "written_request", "Admin, on the customer's written request"
        SYSTEM = "system", "Gateway (expiry, lapse, partnership change)"

    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    actor = models.CharField(max_length=80)
    method = models.CharField(max_length=16, choices=Method.choices)
    reason = models.CharField(max_length=300, blank=True)
    data_categories = models.JSONField(default=list)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("consent_id", "at", "id")

    def __str__(self) -> str:
        return f"{self.consent_id}: {self.from_status or '∅'} → {self.to_status}"


class ConsentNotification(models.Model):
    """Whether one partner was told of one consent transition (the portal shows it after a
    withdrawal). ``subscribed`` is false when the partner had no endpoint for the event type:
    it is refused on its next call all the same. Delivery state is read from the outbox."""

    consent_event = models.ForeignKey(
        ConsentEvent, on_delete=models.CASCADE, related_name="notifications"
    )
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    event_id = models.CharField(max_length=40, help_text="The partner's own id for the event.")
    subscribed = models.BooleanField()

    class Meta:
        ordering = ("consent_event_id", "partner_id")
        constraints = [
            models.UniqueConstraint(
                fields=["consent_event", "partner"], name="consent_notification_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.partner_id}"
