"""What the connect flow keeps: each answer on the consent screen, and the tokens issued
under the consents approved there."""

from __future__ import annotations

from django.db import models
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from consent.models import Consent, Customer, PartnerLink
from ecosystem.ids import PrefixedId
from partners.models import PartnerClient


class ConnectAuthorization(models.Model):
    """One answer on a partner's consent screen: the customer, the connect client, and, when
    approved, the link and the consents it created or confirmed. The authorization code and
    every access and refresh token issued from it are bound to those consents: the token
    lives no longer than the shortest of them, and ends when any of them does."""

    class Outcome(models.TextChoices):
        APPROVED = "approved", "Approved"
        REFUSED = "refused", "Refused"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("cxa"), editable=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(PartnerClient, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    link = models.ForeignKey(
        PartnerLink, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    consents = models.ManyToManyField(Consent, blank=True, related_name="connect_authorizations")
    scope = models.CharField(max_length=1000, blank=True)
    grant = models.OneToOneField(
        Grant, on_delete=models.SET_NULL, null=True, blank=True, related_name="connect"
    )
    # SHA-256 of the authorization code issued for this approval, kept after DOT deletes the
    # code on its exchange: a second exchange of it is recognised (and revokes the tokens).
    code_checksum = models.CharField(max_length=64, blank=True, default="")
    code_exchanged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        indexes = [
            models.Index(fields=["customer", "client"], name="connect_auth_customer_idx"),
            models.Index(fields=["code_checksum"], name="connect_auth_code_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["approved", "refused"]),
                name="connect_auth_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class ConnectToken(models.Model):
    """An access or refresh token issued under a connect authorization (one row per token:
    DOT deletes access tokens and keeps revoked refresh tokens, each row goes with its own)."""

    authorization = models.ForeignKey(
        ConnectAuthorization, on_delete=models.CASCADE, related_name="tokens"
    )
    access_token = models.OneToOneField(
        AccessToken, on_delete=models.CASCADE, null=True, blank=True, related_name="connect"
    )
    refresh_token = models.OneToOneField(
        RefreshToken, on_delete=models.CASCADE, null=True, blank=True, related_name="connect"
    )

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(access_token__isnull=False)
                | models.Q(refresh_token__isnull=False),
                name="connect_token_names_a_token",
            ),
        ]

    def __str__(self) -> str:
        return f"token of {self.authorization_id}"
