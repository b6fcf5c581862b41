from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from exchanges.rewards.models import Reward, Statement, StatementLine
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
    rule_id = serializers.CharField(
        allow_null=True,
        help_text="The partnership's rule; null for an offer's reward on redemption (the "
        "offer.redeemed webhook names it as reward_id).",
    )
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


# Named in settings.SPECTACULAR_SETTINGS (ENUM_NAME_OVERRIDES): referrals have a direction too.
STATEMENT_DIRECTIONS = ["owed_to_you", "you_owe", "even"]
LINE_DIRECTIONS = ["to_you", "from_you"]
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


class CounterpartyOutput(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class StatementOutput(serializers.Serializer):
    """A statement as the calling partner sees it (context ``partner_id``)."""

    id = serializers.CharField()
    period = serializers.CharField(help_text="The UTC month settled, YYYY-MM.")
    counterparty = serializers.SerializerMethodField()
    paid_to_you = serializers.SerializerMethodField(help_text="What the counterparty owes you.")
    paid_by_you = serializers.SerializerMethodField(help_text="What you owe the counterparty.")
    net = serializers.SerializerMethodField(help_text="The difference, owed by the debtor.")
    direction = serializers.SerializerMethodField()
    debtor = serializers.CharField(source="debtor_id", allow_null=True)
    creditor = serializers.CharField(source="creditor_id", allow_null=True)
    line_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def _me(self) -> str:
        return self.context["partner_id"]

    def _mine_is_a(self, statement: Statement) -> bool:
        return statement.partner_a_id == self._me()

    @extend_schema_field(CounterpartyOutput)
    def get_counterparty(self, statement: Statement) -> dict[str, str]:
        other = statement.partner_b if self._mine_is_a(statement) else statement.partner_a
        return {"id": other.pk, "name": other.name}

    @extend_schema_field(ValueOutput)
    def get_paid_to_you(self, statement: Statement) -> dict[str, str]:
        amount = statement.b_to_a if self._mine_is_a(statement) else statement.a_to_b
        return as_wire(amount, statement.unit)

    @extend_schema_field(ValueOutput)
    def get_paid_by_you(self, statement: Statement) -> dict[str, str]:
        amount = statement.a_to_b if self._mine_is_a(statement) else statement.b_to_a
        return as_wire(amount, statement.unit)

    @extend_schema_field(ValueOutput)
    def get_net(self, statement: Statement) -> dict[str, str]:
        return as_wire(statement.net_amount, statement.unit)

    @extend_schema_field(serializers.ChoiceField(choices=STATEMENT_DIRECTIONS))
    def get_direction(self, statement: Statement) -> str:
        if statement.creditor_id is None:
            return "even"
        return "owed_to_you" if statement.creditor_id == self._me() else "you_owe"


class StatementLineOutput(serializers.Serializer):
    transaction_id = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=["post", "reversal"], help_text="A fee's posting, or its reversal."
    )
    reward_id = serializers.CharField()
    rule_id = serializers.CharField(source="transaction.rule_id")
    trigger = serializers.CharField(
        source="transaction.trigger_ref", help_text="The referral converted (ref_…)."
    )
    payer = serializers.CharField(source="payer_id")
    payee = serializers.CharField(source="payee_id")
    direction = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()
    booked_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ChoiceField(choices=LINE_DIRECTIONS))
    def get_direction(self, line: StatementLine) -> str:
        return "to_you" if line.payee_id == self.context["partner_id"] else "from_you"

    @extend_schema_field(ValueOutput)
    def get_amount(self, line: StatementLine) -> dict[str, str]:
        return as_wire(line.amount, line.statement.unit)


class StatementDetailOutput(StatementOutput):
    lines = StatementLineOutput(many=True, source="lines.all")


class StatementListInput(serializers.Serializer):
    period = serializers.RegexField(PERIOD, required=False)
    counterparty = serializers.CharField(
        max_length=40, required=False, help_text="The other partner's id (par_…)."
    )
