from __future__ import annotations

from typing import Any

from rest_framework import serializers

from partners.models import Partner, Partnership


class PartnerOutput(serializers.ModelSerializer):
    scope_ceiling = serializers.SerializerMethodField()
    client = serializers.SerializerMethodField()

    class Meta:
        model = Partner
        fields = ["id", "slug", "name", "sector", "status", "website", "scope_ceiling", "client"]

    def get_scope_ceiling(self, partner: Partner) -> list[str]:
        return partner.scope_ceiling.split()

    def get_client(self, partner: Partner) -> dict[str, Any]:
        token = self.context["token"]
        return {"id": token.partner_client_id, "scopes": token.scope.split()}


class PartnerRef(serializers.Serializer):
    id = serializers.CharField()
    slug = serializers.CharField()
    name = serializers.CharField()


class FlowOutput(serializers.Serializer):
    source = serializers.CharField(source="source_id")
    recipient = serializers.CharField(source="recipient_id")
    purpose = serializers.CharField(source="purpose_id")
    data_categories = serializers.SerializerMethodField()

    def get_data_categories(self, flow: Any) -> list[str]:
        return sorted(category.code for category in flow.data_categories.all())


class PartnershipOutput(serializers.ModelSerializer):
    partner = serializers.SerializerMethodField()
    flows = FlowOutput(many=True)

    class Meta:
        model = Partnership
        fields = ["id", "partner", "status", "valid_from", "valid_until", "version", "flows"]

    def get_partner(self, partnership: Partnership) -> dict[str, str]:
        """The other partner of the pair."""
        caller = self.context["partner_id"]
        other = (
            partnership.partner_b if partnership.partner_a_id == caller else partnership.partner_a
        )
        return PartnerRef(other).data
