from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ecosystem.api import fields as strict
from exchanges.referrals.models import Referral
from exchanges.referrals.selectors import LIST_COLUMNS
from exchanges.referrals.services import Disclosed
from exchanges.rewards.money import currency_codes, is_currency

NOTHING = Disclosed()


class ReferralCreateInput(serializers.Serializer):
    customer_id = strict.CharField(max_length=40, help_text="Your pairwise id, cus_….")
    to_partner = strict.CharField(max_length=40, help_text="The partner (par_…) you refer to.")
    note = strict.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            "Context for the recipient. Treated as data about the customer: shown to the "
            "recipient only under the consent, deleted with the referral's data; a note that "
            "gives away contact data the consent withholds is refused."
        ),
    )


# The wire format of an amount, stated in the schema as well as checked: up to ten digits and
# two decimals (validate_amount's range), ASCII digits only (Decimal also reads "1e2", "1_0"
# and other scripts' digits, which the schema cannot promise).
AMOUNT = RegexValidator(
    r"^[0-9]{1,10}(\.[0-9]{1,2})?\Z", message="Send a decimal string such as 12.50."
)


@extend_schema_field({"type": "string", "enum": currency_codes()})
class CurrencyField(strict.CharField):
    """A code py-moneyed knows: the schema lists them, so a client can too."""


class MoneyInput(serializers.Serializer):
    amount = strict.CharField(
        max_length=20, validators=[AMOUNT], help_text='A decimal string, e.g. "12.50".'
    )
    currency = CurrencyField(max_length=3, help_text="An ISO 4217 code, e.g. EUR.")

    def validate_amount(self, value: str) -> Decimal:
        try:
            amount = Decimal(value)
        except ArithmeticError:
            raise serializers.ValidationError("Send a decimal string such as 12.50.") from None
        if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
            raise serializers.ValidationError("Use a non-negative amount with at most 2 decimals.")
        if amount >= Decimal("1e10"):
            raise serializers.ValidationError("The amount is too large.")
        return amount

    def validate_currency(self, value: str) -> str:
        if not is_currency(value):
            raise serializers.ValidationError("Use an ISO 4217 currency code such as EUR.")
        return value

    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data.get("amount"), str | type(None)):
            raise serializers.ValidationError({"amount": ["Send the amount as a string."]})
        return super().to_internal_value(data)


class ReferralConvertInput(serializers.Serializer):
    value = MoneyInput(required=False)


class ReasonInput(serializers.Serializer):
    reason = strict.CharField(max_length=300, required=False, allow_blank=True, default="")


class ReferralOutput(serializers.Serializer):
    """A referral as the calling partner sees it: the customer under its own pairwise id;
    for the recipient, the consented data (``data``) only while the consent is active."""

    # The fields below are the schema; to_representation builds the same shape directly from
    # the row (a model instance or a values() dict) because DRF's per-field machinery cost most
    # of a page of 50. COLUMNS are the columns it reads.
    COLUMNS = LIST_COLUMNS

    id = serializers.CharField()
    direction = serializers.ChoiceField(choices=["inbound", "outbound"])
    customer_id = serializers.CharField(allow_null=True, help_text="Your own id for the customer.")
    from_partner = serializers.CharField()
    to_partner = serializers.CharField()
    status = serializers.ChoiceField(choices=Referral.Status.choices)
    note = serializers.CharField(
        allow_null=True, help_text="The sender's note, where the referral's data is shown."
    )
    data_categories = serializers.ListField(child=serializers.CharField())
    data = serializers.DictField(child=serializers.CharField(), allow_null=True)
    value = MoneyInput(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, referral: Referral | Mapping[str, Any]) -> dict[str, Any]:
        row = referral if isinstance(referral, Mapping) else _columns(referral, self.COLUMNS)
        amount = row["value_amount"]
        disclosed = self.context.get("disclosed", {}).get(row["id"]) or NOTHING
        return {
            "id": row["id"],
            "direction": (
                "inbound" if row["to_partner_id"] == self.context["partner_id"] else "outbound"
            ),
            "customer_id": row["pairwise_id"],
            "from_partner": row["from_partner_id"],
            "to_partner": row["to_partner_id"],
            "status": row["status"],
            "note": disclosed.note,
            "data_categories": list(row["snapshot_categories"]),
            "data": disclosed.data,
            "value": (
                None
                if amount is None
                else {"amount": f"{amount:.2f}", "currency": row["value_currency"]}
            ),
            "reason": row["reason"],
            "created_at": _iso(row["created_at"]),
            "expires_at": _iso(row["expires_at"]),
            "answered_at": _iso(row["answered_at"]),
            "ended_at": _iso(row["ended_at"]),
        }


def referral_row_json(partner_id: str) -> Callable[[Mapping[str, Any]], str]:
    """How a row of ``referral_list_rows`` becomes JSON for ``partner_id``: PostgreSQL's rows
    come rendered (``json``); the others are rendered here, as ReferralOutput shows them."""
    output = ReferralOutput(context={"partner_id": partner_id})

    def row_json(row: Mapping[str, Any]) -> str:
        rendered = row.get("json")
        if rendered is not None:
            return rendered
        return json.dumps(output.to_representation(row), ensure_ascii=False, separators=(",", ":"))

    return row_json


def _columns(referral: Referral, columns: tuple[str, ...]) -> dict[str, Any]:
    return {column: getattr(referral, column, None) for column in columns}


def _iso(moment: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it (ISO 8601, UTC as Z), without its per-call lookups."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
