from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from ecosystem.api import fields as strict
from partners.webhooks.models import (
    ENDPOINT_DISCLOSED_FIELDS,
    EVENT_TYPES,
    SUBSCRIBABLE_EVENT_TYPES,
    Delivery,
    EventPayload,
    WebhookEndpoint,
)


class EventTypesField(serializers.ListField):
    child = serializers.ChoiceField(choices=SUBSCRIBABLE_EVENT_TYPES)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_empty=False, max_length=len(SUBSCRIBABLE_EVENT_TYPES), **kwargs)


class WebhookEndpointCreateInput(serializers.Serializer):
    url = strict.URLField(max_length=2000)
    event_types = EventTypesField()
    description = strict.CharField(max_length=500, allow_blank=True, default="")
    enabled = strict.BooleanField(default=True)
    signature_scheme = serializers.ChoiceField(
        choices=WebhookEndpoint.SignatureScheme.choices,
        default=WebhookEndpoint.SignatureScheme.HMAC,
    )


class WebhookEndpointUpdateInput(serializers.Serializer):
    url = strict.URLField(max_length=2000, required=False)
    event_types = EventTypesField(required=False)
    description = strict.CharField(max_length=500, allow_blank=True, required=False)
    enabled = strict.BooleanField(required=False)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    public_key = serializers.SerializerMethodField(
        help_text="For v1a endpoints: the whpk_… key that verifies their signatures."
    )

    class Meta:
        model = WebhookEndpoint
        fields = list(ENDPOINT_DISCLOSED_FIELDS)
        read_only_fields = fields

    def get_public_key(self, endpoint: WebhookEndpoint) -> str | None:
        return endpoint.public_key or None


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The whsec_… signing secret of a v1 endpoint. Shown only in this response."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, endpoint: WebhookEndpoint) -> str | None:
        return self.context.get("secret")


class DeliverySerializer(serializers.ModelSerializer):
    endpoint_id = serializers.CharField(read_only=True)
    event_id = serializers.CharField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryListInput(serializers.Serializer):
    endpoint = strict.CharField(max_length=40, required=False)
    event_type = serializers.ChoiceField(choices=list(EVENT_TYPES), required=False)
    status = serializers.ChoiceField(choices=Delivery.Status.choices, required=False)


class EventListInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(EVENT_TYPES), required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "since" in attrs and "until" in attrs and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": "Must be later than since."})
        return attrs


class EventSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="event_id", read_only=True)
    type = serializers.CharField(source="event.type", read_only=True)
    data = serializers.SerializerMethodField(help_text="The payload's data, as delivered.")

    class Meta:
        model = EventPayload
        fields = ["id", "type", "created_at", "data"]
        read_only_fields = fields

    def get_data(self, payload: EventPayload) -> dict[str, Any]:
        return json.loads(payload.body)["data"]
