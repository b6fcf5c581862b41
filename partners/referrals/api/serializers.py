from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partners.models import Referral

# Active ISO 4217 currency codes.
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)


class ReferralCreateInput(serializers.Serializer):
    customer_id = serializers.CharField(max_length=40, help_text="Your pairwise id, cus_….")
    to_partner = serializers.CharField(max_length=40, help_text="The partner (par_…) you refer to.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class MoneyInput(serializers.Serializer):
    amount = serializers.CharField(max_length=20, help_text='A decimal string, e.g. "12.50".')
    currency = serializers.CharField(max_length=3, help_text="An ISO 4217 code, e.g. EUR.")

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
        if value not in ISO_4217:
            raise serializers.ValidationError("Use an ISO 4217 currency code such as EUR.")
        return value

    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data.get("amount"), str | type(None)):
            raise serializers.ValidationError({"amount": ["Send the amount as a string."]})
        return super().to_internal_value(data)


class ReferralConvertInput(serializers.Serializer):
    value = MoneyInput(required=False)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ReferralOutput(serializers.ModelSerializer):
    """A referral as the calling partner sees it: the customer under its own pairwise id;
    for the recipient, the consented data (``data``) only while the consent is active."""

    customer_id = serializers.CharField(source="pairwise_id", allow_null=True)
    direction = serializers.SerializerMethodField()
    from_partner = serializers.CharField(source="from_partner_id")
    to_partner = serializers.CharField(source="to_partner_id")
    data_categories = serializers.ListField(
        source="snapshot_categories", child=serializers.CharField()
    )
    data = serializers.SerializerMethodField()
    value = serializers.SerializerMethodField()

    class Meta:
        model = Referral
        fields = (
            "id",
            "direction",
            "customer_id",
            "from_partner",
            "to_partner",
            "status",
            "note",
            "data_categories",
            "data",
            "value",
            "reason",
            "created_at",
            "expires_at",
            "answered_at",
            "ended_at",
        )

    @extend_schema_field(serializers.ChoiceField(choices=["inbound", "outbound"]))
    def get_direction(self, referral: Referral) -> str:
        return "inbound" if referral.to_partner_id == self.context["partner_id"] else "outbound"

    @extend_schema_field(serializers.DictField(child=serializers.CharField(), allow_null=True))
    def get_data(self, referral: Referral) -> dict[str, str] | None:
        return self.context.get("data", {}).get(referral.pk)

    @extend_schema_field(MoneyInput(allow_null=True))
    def get_value(self, referral: Referral) -> dict[str, str] | None:
        if referral.value_amount is None:
            return None
        return {"amount": f"{referral.value_amount:.2f}", "currency": referral.value_currency}
