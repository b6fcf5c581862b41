from __future__ import annotations

from typing import Any

from rest_framework import serializers

from exchanges.rewards.models import Reward
from exchanges.rewards.money import as_wire

MAX_ITEMS = 500


class ActivityItemInput(serializers.Serializer):
    external_id = serializers.CharField(min_length=1, max_length=100)
    customer_id = serializers.CharField(max_length=40)
    type = serializers.CharField(max_length=50)
    occurred_at = serializers.DateTimeField()
    quantity = serializers.IntegerField(min_value=1, max_value=1000, default=1)


class ActivitiesInput(serializers.Serializer):
    items = ActivityItemInput(many=True, allow_empty=False, max_length=MAX_ITEMS)


class ActivityResultOutput(serializers.Serializer):
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted", "refused"])
    code = serializers.CharField(
        allow_blank=True,
        help_text="For a refused item: consent_required, unknown_customer, unknown_type, "
        "no_rule, duplicate, too_old or occurred_in_future.",
    )
    detail = serializers.CharField(allow_blank=True)


class ActivitiesOutput(serializers.Serializer):
    accepted = serializers.IntegerField()
    refused = serializers.IntegerField()
    results = ActivityResultOutput(many=True)


class ValueOutput(serializers.Serializer):
    amount = serializers.CharField(help_text='A decimal string, e.g. "5.00".')
    currency = serializers.CharField(required=False, help_text="ISO 4217, for money.")
    points = serializers.CharField(required=False, help_text="The programme, for points.")


class RewardOutput(serializers.Serializer):
    id = serializers.CharField()
    rule_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Reward.Status.choices)
    customer_id = serializers.CharField(
        source="pairwise_id", allow_null=True, help_text="Your own id for the customer."
    )
    funder = serializers.CharField(source="funder_id")
    receiver = serializers.CharField(source="receiver_id")
    beneficiary = serializers.SerializerMethodField()
    value = serializers.SerializerMethodField()
    period = serializers.CharField()
    issued_at = serializers.DateTimeField()
    lock_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()

    def get_beneficiary(self, reward: Reward) -> str:
        return "customer" if reward.to_customer else "partner"

    def get_value(self, reward: Reward) -> dict[str, Any]:
        return as_wire(reward.amount, reward.unit)


class RewardListInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Reward.Status.choices, required=False)
    rule = serializers.CharField(max_length=40, required=False)
    period = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", required=False)
