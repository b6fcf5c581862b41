"""Customers, their data keys, and their links to partners (pairwise ids)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Q

from ecosystem import crypto
from ecosystem.ids import PrefixedId

EMAIL_INDEX_PURPOSE = "customer.email"
PII_FIELDS = ("name", "email", "phone")


@dataclass(frozen=True)
class CustomerPII:
    name: str
    email: str
    phone: str


class CustomerErased(Exception):
    """The customer's data key is gone: their PII can never be read again."""


class Customer(models.Model):
    """A person with a portal login.

    Name, email and phone are sealed under the customer's own data key (``CustomerKey``),
    itself wrapped by the configured field keys; erasing the customer deletes that key, which
    makes every copy of these columns unreadable. ``email_index`` is a keyed hash of the
    normalised email (the only way to find a customer by email). ``__str__`` is the opaque id,
    so the admin log and error messages never carry PII.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ERASED = "erased", "Erased"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("cst"), editable=False
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="customer"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    name_sealed = models.TextField(blank=True, default="")
    email_sealed = models.TextField(blank=True, default="")
    phone_sealed = models.TextField(blank=True, default="")
    # NULL, not "", when absent: unique among the customers that have one.
    email_index = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    # When the customer last saw their home page: what changed since is pointed out there.
    portal_seen_at = models.DateTimeField(null=True, blank=True)
    # Consent reminders (docs/consent.md, Reminders): the digest and the expiry notices go
    # out while this is on; the customer turns it off in the portal, when is recorded.
    # A database default too: web processes of the release before keep inserting customers
    # during a rolling upgrade (docs/deployment.md, expand/contract).
    reminders_enabled = models.BooleanField(default=True, db_default=True)
    reminders_changed_at = models.DateTimeField(null=True, blank=True)
    # When the last digest of the customer's consents was queued (NULL: never).
    digest_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["email_index"],
                condition=Q(email_index__isnull=False),
                name="customer_email_index_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "erased"]), name="customer_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="active") | Q(email_index__isnull=True, email_sealed=""),
                name="customer_erased_has_no_pii",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    def _aad(self, field: str) -> bytes:
        return crypto.associated_data(self._meta.db_table, field, self.pk)

    def data_key(self) -> bytes:
        """The unwrapped data key (cached on the instance); CustomerErased once destroyed."""
        cached = self.__dict__.get("_data_key")
        if cached is not None:
            return cached
        try:
            key = self.key.unwrap()
        except CustomerKey.DoesNotExist:
            raise CustomerErased(self.pk) from None
        self.__dict__["_data_key"] = key
        return key

    def seal_pii(self, *, name: str, email: str, phone: str, data_key: bytes) -> None:
        self.__dict__["_data_key"] = data_key
        for field, value in zip(PII_FIELDS, (name, email, phone), strict=True):
            sealed = crypto.seal(value, data_key=data_key, aad=self._aad(field)) if value else ""
            setattr(self, f"{field}_sealed", sealed)
        self.email_index = crypto.blind_index(email, purpose=EMAIL_INDEX_PURPOSE)

    def pii(self) -> CustomerPII:
        """Decrypt name, email and phone. Callers that show them record that they did."""
        key = self.data_key()
        values = [
            crypto.unseal(sealed, data_key=key, aad=self._aad(field)) if sealed else ""
            for field, sealed in ((f, getattr(self, f"{f}_sealed")) for f in PII_FIELDS)
        ]
        return CustomerPII(*values)


class CustomerKey(models.Model):
    """One customer's data key, wrapped by the configured field keys.

    Kept in its own table so that erasure is one DELETE, and so operators can give it its own
    backup retention: a backup of the other tables never holds a key (docs/consent.md).
    """

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="key"
    )
    wrapped = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("customer_id",)

    def __str__(self) -> str:
        return f"data key of {self.customer_id}"

    def _aad(self) -> bytes:
        return crypto.associated_data(self._meta.db_table, "wrapped", self.customer_id)

    def wrap(self, data_key: bytes) -> None:
        self.wrapped = crypto.data_key_wrap(data_key, aad=self._aad())

    def unwrap(self) -> bytes:
        return crypto.data_key_unwrap(self.wrapped, aad=self._aad())


class PartnerLink(models.Model):
    """A customer as one partner knows them.

    ``id`` is the pairwise customer id (``cus_…``) this partner, and only this partner, uses:
    random, so no partner can derive another's id for the same person. ``external_ref`` is the
    partner's own reference. Lifecycle: pending → active | refused; active → ended (the
    customer erased their account or the partner left).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the customer"
        ACTIVE = "active", "Confirmed"
        REFUSED = "refused", "Refused by the customer"
        ENDED = "ended", "Ended"

    class Method(models.TextChoices):
        INVITATION = "invitation", "Invitation email"
        REFERRAL = "referral", "Referral consent"
        CONNECT = "connect", "Connect screen"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("cus"), editable=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="links")
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="customer_links"
    )
    # NULL for links made without one (referrals); unique per partner otherwise.
    external_ref = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.INVITATION)
    invited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        constraints = [
            models.UniqueConstraint(fields=["partner", "customer"], name="link_one_per_pair"),
            models.UniqueConstraint(
                fields=["partner", "external_ref"],
                condition=Q(external_ref__isnull=False),
                name="link_external_ref_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "active", "refused", "ended"]),
                name="link_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["partner", "invited_at"], name="link_invitations_idx")]

    def __str__(self) -> str:
        return self.id
