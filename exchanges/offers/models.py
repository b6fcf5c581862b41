"""Shared engagement offers: a lead sponsor and the co-sponsors it names, approved by an
admin, shown only to customers who asked a sponsor for offers (DESIGN.md, Offer)."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ecosystem.ids import PrefixedId


class Offer(models.Model):
    """An offer run by ``lead`` with the co-sponsors in ``sponsors``.

    ``draft → submitted → approved → published → retired``; ``submitted → rejected → draft``;
    an approved offer may be retired before it is published. Partners edit only drafts (a
    rejected offer becomes a draft again when its lead edits it); a published offer can only
    be retired or extended. ``body`` is stored already sanitised (exchanges.offers.text) and
    sanitised again wherever it is rendered. The audience is never stored: who may see an
    offer is computed when a customer reads (selectors.offers_for_customer).
    ``redemption_count`` is kept under the offer's row lock, which is what holds the caps.
    A redemption of an offer with a reward issues it to the customer (exchanges.rewards).
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    # The moves ``status`` allows (ecosystem.transitions).
    TRANSITIONS = {
        Status.DRAFT: {Status.SUBMITTED},
        Status.SUBMITTED: {Status.APPROVED, Status.REJECTED},
        Status.REJECTED: {Status.DRAFT},
        Status.APPROVED: {Status.PUBLISHED, Status.RETIRED},
        Status.PUBLISHED: {Status.RETIRED},
    }

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("off"), editable=False
    )
    lead = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="offers_led"
    )
    title = models.CharField(max_length=120)
    body = models.TextField(max_length=4000)
    terms = models.TextField(max_length=2000, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    cap_total = models.PositiveIntegerField(null=True, blank=True)
    cap_per_customer = models.PositiveIntegerField(default=1)
    redemption_count = models.PositiveIntegerField(default=0)
    # The reward on redemption (optional): ``reward_amount`` of ``reward_unit`` to the
    # customer, funded by ``reward_funder`` (the lead or a co-sponsor), in the rewards ledger.
    reward_funder = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The sponsor that funds the reward (the lead or a co-sponsor).",
    )
    reward_amount = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    reward_unit = models.CharField(
        max_length=30,
        blank=True,
        help_text="An ISO 4217 currency (EUR) or a points programme code (pulse-points).",
    )
    rejection_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="offer_window_ordered"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "draft",
                        "submitted",
                        "approved",
                        "rejected",
                        "published",
                        "retired",
                    ]
                ),
                name="offer_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(cap_per_customer__gte=1)
                & (Q(cap_total__isnull=True) | Q(cap_total__gte=1)),
                name="offer_caps_positive",
            ),
            models.CheckConstraint(
                condition=Q(cap_total__isnull=True) | Q(redemption_count__lte=F("cap_total")),
                name="offer_within_total_cap",
            ),
            models.CheckConstraint(
                condition=Q(reward_funder__isnull=True, reward_amount__isnull=True, reward_unit="")
                | (Q(reward_funder__isnull=False, reward_amount__gt=0) & ~Q(reward_unit="")),
                name="offer_reward_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="offer_lead_idx"),
            models.Index(fields=["status", "starts_at"], name="offer_status_idx"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def has_reward(self) -> bool:
        return self.reward_funder_id is not None

    def is_live(self, at: datetime) -> bool:
        return self.status == self.Status.PUBLISHED and self.starts_at <= at < self.ends_at


class OfferSponsor(models.Model):
    """A co-sponsor the lead named. Named only once it accepts: until then (and after a
    decline) customers never see its name on the offer, and an offer is submitted only when
    every co-sponsor has accepted. Editing a draft asks every co-sponsor again."""

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="sponsors")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="offer_sponsorships"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INVITED)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("offer", "partner")
        constraints = [
            models.UniqueConstraint(fields=["offer", "partner"], name="offer_sponsor_once"),
            models.CheckConstraint(
                condition=Q(status__in=["invited", "accepted", "declined"]),
                name="offer_sponsor_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} · {self.partner_id}"


class Redemption(models.Model):
    """A sponsor recorded that the customer redeemed the offer. ``external_id`` is the
    sponsor's own reference: recording it again returns this row (idempotent)."""

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("rdm"), editable=False
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="redemptions")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="offer_redemptions"
    )
    customer = models.ForeignKey(
        "consent.Customer", on_delete=models.PROTECT, related_name="offer_redemptions"
    )
    consent = models.ForeignKey("consent.Consent", on_delete=models.PROTECT, related_name="+")
    reward = models.OneToOneField(
        "rewards.Reward",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The reward the redemption earned, when the offer carries one.",
    )
    external_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["offer", "partner", "external_id"], name="redemption_external_id_once"
            ),
        ]
        indexes = [
            models.Index(fields=["offer", "customer"], name="redemption_customer_idx"),
            models.Index(fields=["customer", "-created_at"], name="redemption_portal_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class SavedOffer(models.Model):
    """A customer kept an offer for later (the portal's save/unsave)."""

    customer = models.ForeignKey(
        "consent.Customer", on_delete=models.CASCADE, related_name="saved_offers"
    )
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="saves")
    saved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-saved_at", "id")
        constraints = [
            models.UniqueConstraint(fields=["customer", "offer"], name="saved_offer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} · {self.offer_id}"
