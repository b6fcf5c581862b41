from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ecosystem.api import fields as strict
from exchanges.offers.models import Offer, OfferSponsor
from exchanges.offers.services import OfferReward
from exchanges.rewards.money import quantize


class StrictInteger(serializers.IntegerField):
    """A JSON integer, not a string or a boolean that DRF would coerce."""

    default_error_messages = {"not_an_integer": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_an_integer")
        return super().to_internal_value(data)


class OfferRewardInput(serializers.Serializer):
    """The reward a redemption earns the customer, in the rewards ledger."""

    funder = strict.CharField(
        max_length=40, help_text="The sponsor (par_…) that funds it: you or a co-sponsor."
    )
    amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        help_text='A decimal string above zero, e.g. "5.00" (cents for a currency, whole '
        "points for a programme).",
    )
    unit = strict.CharField(
        max_length=30,
        help_text="An ISO 4217 currency (EUR) or a points programme code (pulse-points).",
    )

    def to_internal_value(self, data: Any) -> OfferReward:
        values = super().to_internal_value(data)
        return OfferReward(values["funder"], values["amount"], values["unit"])


class OfferRewardOutput(serializers.Serializer):
    funder = serializers.CharField(help_text="The sponsor (par_…) that funds it.")
    amount = serializers.CharField(help_text='A decimal string, e.g. "5.00".')
    unit = serializers.CharField(help_text="An ISO 4217 currency or a points programme code.")


class OfferInput(serializers.Serializer):
    title = strict.CharField(max_length=120)
    body = strict.CharField(
        max_length=4000,
        help_text=(
            "Plain text with limited formatting: p, br, strong, em, b, i, ul, ol, li. Any "
            "other markup (links, images, scripts, attributes) is removed when stored."
        ),
    )
    terms = strict.CharField(max_length=2000, required=False, allow_blank=True, default="")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    cap_total = StrictInteger(
        min_value=1,
        max_value=10_000_000,
        required=False,
        allow_null=True,
        default=None,
        help_text="Redemptions in all; null for no total cap.",
    )
    cap_per_customer = StrictInteger(min_value=1, max_value=1000, required=False, default=1)
    co_sponsors = serializers.ListField(
        child=strict.CharField(max_length=40),
        max_length=10,
        required=False,
        default=list,
        help_text=(
            "Partners (par_…) in an active partnership with you, each asked to accept being "
            "named in its partner console before you can submit."
        ),
    )
    reward = OfferRewardInput(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "Optional: each redemption earns the customer this reward, funded by the named "
            "sponsor, pending in the rewards ledger until its lock date (voided if the "
            "customer withdraws the offers consent first). null for none."
        ),
    )


class OfferPatchInput(OfferInput):
    """Any subset of the fields. A published offer accepts only a later ``ends_at``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # partial=True still fills defaults in DRF 3.16; keep only what was sent.
        sent = set(self.initial_data) if isinstance(self.initial_data, dict) else set()
        attrs = {k: v for k, v in attrs.items() if k in sent}
        if not attrs:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


class RedemptionInput(serializers.Serializer):
    customer_id = strict.CharField(max_length=40, help_text="Your pairwise id, cus_….")
    external_id = strict.CharField(
        max_length=100, help_text="Your reference for this redemption; sending it again is safe."
    )


class CoSponsorOutput(serializers.Serializer):
    partner = serializers.CharField()
    status = serializers.ChoiceField(choices=OfferSponsor.Status.choices)


class OfferOutput(serializers.Serializer):
    """An offer as its sponsors see it: never who may see it, only how often it was
    redeemed."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Offer.Status.choices)
    title = serializers.CharField()
    body = serializers.CharField(help_text="Sanitised HTML (the allowed tags only).")
    terms = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    lead_sponsor = serializers.CharField(source="lead_id")
    co_sponsors = serializers.SerializerMethodField()
    cap_total = serializers.IntegerField(allow_null=True)
    cap_per_customer = serializers.IntegerField()
    redemption_count = serializers.IntegerField()
    reward = serializers.SerializerMethodField(
        help_text="What each redemption earns the customer, funded by one of the sponsors and "
        "issued in the rewards ledger with the redemption; null for none."
    )
    rejection_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(OfferRewardOutput(allow_null=True))
    def get_reward(self, offer: Offer) -> dict[str, str] | None:
        if offer.reward_funder_id is None or offer.reward_amount is None:
            return None
        amount = quantize(offer.reward_amount, offer.reward_unit)
        return {"funder": offer.reward_funder_id, "amount": str(amount), "unit": offer.reward_unit}

    @extend_schema_field(CoSponsorOutput(many=True))
    def get_co_sponsors(self, offer: Offer) -> list[dict[str, str]]:
        return [{"partner": s.partner_id, "status": s.status} for s in offer.sponsors.all()]


class RedemptionOutput(serializers.Serializer):
    id = serializers.CharField()
    offer_id = serializers.CharField()
    customer_id = serializers.CharField(
        source="pairwise_id",
        allow_null=True,
        help_text="Your own id for the customer; null where you are not linked to them.",
    )
    external_id = serializers.SerializerMethodField()
    redeemed_by = serializers.CharField(source="partner_id")
    reward_id = serializers.CharField(
        allow_null=True, help_text="The reward it earned the customer (GET /api/v1/rewards/{id})."
    )
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_external_id(self, row: Any) -> str | None:
        # Another sponsor's reference is its own business.
        return row.external_id if row.partner_id == self.context["partner_id"] else None
