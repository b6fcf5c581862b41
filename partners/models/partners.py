"""Partner brands, their staff, OAuth clients and the partnerships admins curate."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from ecosystem.ids import PrefixedId
from partners.scopes import SCOPES, parse_scopes


class Partner(models.Model):
    """A brand in the ecosystem.

    Lifecycle: pending → active | rejected; active ⇄ suspended; active | suspended →
    offboarded. Only services change ``status``.
    """

    class Sector(models.TextChoices):
        INSURANCE = "insurance", "Insurance"
        FITNESS = "fitness", "Fitness"
        GROCERY = "grocery", "Grocery"
        BANKING = "banking", "Banking"
        RETAIL = "retail", "Retail"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"
        OFFBOARDED = "offboarded", "Offboarded"

    # The moves ``status`` allows (ecosystem.transitions).
    TRANSITIONS = {
        Status.PENDING: {Status.ACTIVE, Status.REJECTED},
        Status.ACTIVE: {Status.SUSPENDED, Status.OFFBOARDED},
        Status.SUSPENDED: {Status.ACTIVE, Status.OFFBOARDED},
    }

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("par"), editable=False
    )
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120)
    sector = models.CharField(max_length=20, choices=Sector.choices)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    website = models.URLField(max_length=200, blank=True)
    description = models.TextField(max_length=2000, blank=True)
    contact_name = models.CharField(max_length=120)
    contact_email = models.EmailField(
        max_length=254, unique=True, help_text="Business contact; stored lower-cased."
    )
    # The controller's details that consent receipts carry (Kantara CR v1.1 piiControllers,
    # ISO/IEC TS 27560): required before approval, edited by the partner in the console.
    address = models.TextField(
        max_length=500, blank=True, help_text="Postal address of the data controller."
    )
    phone = models.CharField(
        max_length=40, blank=True, help_text="Phone number for privacy questions."
    )
    privacy_notice_url = models.URLField(
        max_length=500, blank=True, help_text="Your privacy notice, linked from every receipt."
    )
    scope_ceiling = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text="Space-separated scopes this partner's clients may be given.",
    )
    status_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["pending", "active", "rejected", "suspended", "offboarded"]
                ),
                name="partner_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(
                    sector__in=["insurance", "fitness", "grocery", "banking", "retail", "other"]
                ),
                name="partner_sector_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def scope_ceiling_set(self) -> set[str]:
        return parse_scopes(self.scope_ceiling) & set(SCOPES)


class PartnerStaff(models.Model):
    """A person who signs in to the partner console for one partner."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_staff"
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="staff")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("partner_id", "id")
        verbose_name_plural = "partner staff"

    def __str__(self) -> str:
        return f"{self.user} ({self.partner})"


class PartnerClient(models.Model):
    """An OAuth client-credentials client of a partner, one-to-one with DOT's Application.

    The Application's ``client_id`` is this row's ``cli_…`` id. ``scopes`` is the client's
    own set, always within the partner's ceiling.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("cli"), editable=False
    )
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="clients")
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="partner_client",
    )
    name = models.CharField(max_length=100)
    scopes = models.CharField(max_length=500, help_text="Space-separated scopes.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("partner_id", "created_at", "id")

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def scope_set(self) -> set[str]:
        return parse_scopes(self.scopes)

    @property
    def is_connect(self) -> bool:
        """A connect client (authorization code for customers), not a server-to-server one."""
        return self.application.authorization_grant_type == "authorization-code"


class GrantInvalidation(models.Model):
    """A change that withdraws cached token grants (a client revoked or changed, a partner's
    status, a token deleted), written in the transaction that makes the change.

    While a row exists no process trusts the shared cache for its client, partner or token;
    it is deleted once the shared cache has taken the change in (after commit, or replayed by
    the sweep when the cache was unreachable then). So a revocation never depends on a cache
    write after commit succeeding; see partners/oauth/token_cache.py."""

    class Kind(models.TextChoices):
        CLIENT = "client", "Client"
        PARTNER = "partner", "Partner"
        TOKEN = "token", "Token"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    ref = models.CharField(max_length=64, help_text="Client id, partner id or token checksum.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


def partnership_current_q(at: datetime, *, prefix: str = "") -> Q:
    """Partnerships in force at ``at``: active and inside their validity window (``prefix``
    reaches them through a relation, e.g. ``"partnership__"``)."""
    return Q(**{f"{prefix}status": "active", f"{prefix}valid_from__lte": at}) & (
        Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": at})
    )


class PartnershipQuerySet(models.QuerySet):
    def involving(self, partner_id: str) -> PartnershipQuerySet:
        return self.filter(Q(partner_a_id=partner_id) | Q(partner_b_id=partner_id))

    def current(self, at: datetime) -> PartnershipQuerySet:
        return self.filter(partnership_current_q(at))


class Partnership(models.Model):
    """An admin-curated agreement between two partners (an unordered pair, stored with
    ``partner_a_id < partner_b_id``). Its flows say which purposes may flow in which direction
    with which data categories; ``version`` increases whenever the flows or the terms change,
    and each version's terms are kept in ``PartnershipTerms`` (``terms`` here is the latest).

    At most one partnership per pair may have overlapping validity windows: checked by the
    service under row locks (portable across SQLite and PostgreSQL).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    # The moves ``status`` allows (ecosystem.transitions).
    TRANSITIONS = {Status.DRAFT: {Status.ACTIVE, Status.ENDED}, Status.ACTIVE: {Status.ENDED}}

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("psh"), editable=False
    )
    partner_a = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    partner_b = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    terms = models.TextField(max_length=5000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = PartnershipQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(partner_a__lt=F("partner_b")), name="partnership_pair_ordered"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="partnership_window_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "ended"]),
                name="partnership_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_a} ↔ {self.partner_b} (v{self.version})"

    def is_current(self, at: datetime) -> bool:
        """As partnership_current_q, for a row already loaded."""
        return (
            self.status == self.Status.ACTIVE
            and self.valid_from <= at
            and (self.valid_until is None or self.valid_until > at)
        )


class PartnershipTerms(models.Model):
    """The terms of one version of a partnership, kept as they were: a consent records the
    partnership version it was given under, and this row holds that version's exact terms.
    Written by the partnership services with every version; never changed after."""

    partnership = models.ForeignKey(
        Partnership, on_delete=models.CASCADE, related_name="terms_versions"
    )
    version = models.PositiveIntegerField()
    terms = models.TextField(max_length=5000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("partnership_id", "version")
        verbose_name_plural = "partnership terms"
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "version"], name="partnership_terms_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partnership_id} v{self.version}"


class PartnershipFlow(models.Model):
    """One directed permission inside a partnership: ``source`` may share the listed data
    categories with ``recipient`` for ``purpose``."""

    partnership = models.ForeignKey(Partnership, on_delete=models.CASCADE, related_name="flows")
    source = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    purpose = models.ForeignKey("partners.Purpose", on_delete=models.PROTECT, related_name="+")
    data_categories = models.ManyToManyField("partners.DataCategory", blank=True, related_name="+")

    class Meta:
        ordering = ("partnership_id", "source_id", "purpose_id", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["partnership", "source", "recipient", "purpose"],
                name="partnership_flow_unique",
            ),
            models.CheckConstraint(
                condition=~Q(source=F("recipient")), name="partnership_flow_directed"
            ),
        ]

    def __str__(self) -> str:
        # Brand names, as the admin's flow captions show them (FlowInline loads both).
        return f"{self.source} → {self.recipient}: {self.purpose_id}"
