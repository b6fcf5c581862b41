"""Wire formats of the partner consent API. Customers appear only as the caller's own
pairwise id (``cus_…``); never an email, a name or another partner's id."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from consent.models import Consent, PartnerLink
from consent.selectors import consents_in_force
from ecosystem.api import fields as strict

ID_MAX = 40


class CustomerLinkCreateInput(serializers.Serializer):
    external_ref = strict.CharField(
        max_length=100, help_text="Your own reference for this customer; unique per partner."
    )
    email = strict.EmailField(max_length=254, help_text="Where the invitation goes.")
    name = strict.CharField(max_length=200, required=False, allow_blank=True, default="")


class CustomerLinkOutput(serializers.ModelSerializer):
    customer_id = serializers.CharField(source="id", help_text="Your pairwise id, cus_….")
    status = serializers.ChoiceField(choices=PartnerLink.Status.choices)

    class Meta:
        model = PartnerLink
        fields = ("customer_id", "external_ref", "status", "created_at", "confirmed_at")


class NoticeOutput(serializers.Serializer):
    id = serializers.IntegerField(source="notice_id")
    version = serializers.IntegerField(source="notice_version")
    language = serializers.CharField(source="notice_language")
    sha256 = serializers.CharField(source="notice_sha256")


class ConsentOutput(serializers.ModelSerializer):
    """One consent as a partner sees it. ``status`` is as it stands now: an active consent
    past ``expires_at`` reads ``expired`` even before the expiry job marks it."""

    customer_id = serializers.SerializerMethodField(help_text="Your pairwise id, cus_….")
    purpose = serializers.CharField(source="purpose_id")
    source = serializers.CharField(source="source_id")
    recipient = serializers.CharField(source="recipient_id")
    data_categories = serializers.ListField(child=serializers.CharField())
    status = serializers.SerializerMethodField()
    in_force = serializers.SerializerMethodField(
        help_text=(
            "Whether data may flow under this consent now: it is active and not expired, both "
            "partners are active, and the partnership is in force and still has the flow. "
            "False while a partner is suspended or after the partnership's window closes, "
            "even before the consent's own status changes."
        )
    )
    message = serializers.CharField(source="request_message")
    notice = NoticeOutput(source="*")
    supersedes = serializers.CharField(source="supersedes_id", allow_null=True)
    receipt = serializers.SerializerMethodField(
        help_text=(
            "Your signed receipt (compact JWS, EdDSA) for the consent's latest transition, "
            "naming only your customer id; verify it with /.well-known/jwks.json."
        )
    )

    class Meta:
        model = Consent
        fields = (
            "id",
            "customer_id",
            "purpose",
            "source",
            "recipient",
            "data_categories",
            "status",
            "in_force",
            "method",
            "message",
            "notice",
            "created_at",
            "lapses_at",
            "granted_at",
            "expires_at",
            "ended_at",
            "ended_reason",
            "supersedes",
            "receipt",
        )

    @extend_schema_field(serializers.CharField())
    def get_customer_id(self, consent: Consent) -> str:
        return self.context["customer_id"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_receipt(self, consent: Consent) -> str | None:
        receipts = getattr(consent, "partner_receipts", None)
        if receipts is None:  # a consent just created, not read through a selector
            receipts = consent.receipts.filter(partner_id=self.context["partner_id"]).order_by(
                "-created_at", "-id"
            )
        first = next(iter(receipts), None)
        return first.jws if first else None

    @extend_schema_field(serializers.ChoiceField(choices=Consent.Status.choices))
    def get_status(self, consent: Consent) -> str:
        return consent.effective_status(self.context.get("now"))

    @extend_schema_field(serializers.BooleanField())
    def get_in_force(self, consent: Consent) -> bool:
        in_force = self.context.get("in_force")  # a page's, computed once (consents_in_force)
        if in_force is None:
            in_force = consents_in_force([consent], at=self.context.get("now") or timezone.now())
        return consent.pk in in_force


class ConsentRequestCreateInput(serializers.Serializer):
    customer_id = strict.CharField(max_length=ID_MAX, help_text="Your pairwise id.")
    recipient = strict.CharField(
        max_length=ID_MAX,
        required=False,
        help_text="The partner (par_…) the data would go to; you, for link and offers.",
    )
    purpose = strict.CharField(max_length=50)
    data_categories = serializers.ListField(
        child=strict.CharField(max_length=50),
        max_length=20,
        required=False,
        default=list,
        help_text="Categories to share; none for purposes that carry no data (link, offers).",
    )
    message = strict.CharField(
        max_length=500, help_text="Shown to the customer with the notice: say why you ask."
    )
    language = strict.CharField(max_length=10, required=False, default="en")
