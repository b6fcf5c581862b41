"""Webhook endpoints, deliveries and the event log (scope ``webhooks:manage``).

Each view class serves one path and each method one operation, calling one service or
selector. Every lookup starts from the calling partner's own rows, so another partner's id
is a plain 404.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.common import (
    PAGE_PARAMETERS,
    calling_client,
    calling_partner_id,
    page_of,
    paginated,
    query_filters,
)
from ecosystem.api.idempotency import IdempotentMixin
from partners.webhooks import selectors, services
from partners.webhooks.api.serializers import (
    DeliveryListInput,
    DeliverySerializer,
    EventListInput,
    EventSerializer,
    WebhookEndpointCreateInput,
    WebhookEndpointSerializer,
    WebhookEndpointUpdateInput,
    WebhookEndpointWithSecretSerializer,
)
from partners.webhooks.models import Delivery, WebhookEndpoint

SCOPES = ["webhooks:manage"]


def _endpoint(request: Request, endpoint_id: str) -> WebhookEndpoint:
    endpoints = selectors.webhook_endpoints_for(partner_id=calling_partner_id(request))
    return get_object_or_404(endpoints, pk=endpoint_id)


class WebhookEndpointsApi(IdempotentMixin, APIView):
    required_scopes = SCOPES

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(WebhookEndpointSerializer),
        operation_id="webhook_endpoints_list",
        summary="Your webhook endpoints",
        description=(
            "The endpoints events are delivered to, newest first, with the event types each "
            "subscribes to and whether it is enabled. Secrets are never shown again."
        ),
    )
    def get(self, request: Request) -> Response:
        endpoints = selectors.webhook_endpoints_for(partner_id=calling_partner_id(request))
        return paginated(self, endpoints, WebhookEndpointSerializer)

    @extend_schema(
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointWithSecretSerializer},
        operation_id="webhook_endpoints_create",
        summary="Add a webhook endpoint",
        description=(
            "Registers an https URL for the event types you list (at least one). The signing "
            "secret is in this response only: store it to verify the Standard Webhooks "
            "signature of each delivery. 400 webhook_url_not_allowed (not https, or a private "
            "or loopback address), webhook_event_types_invalid (the body lists the allowed "
            "types); 409 webhook_endpoint_limit_reached."
        ),
    )
    def post(self, request: Request) -> Response:
        data = WebhookEndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_endpoint_create(
            partner_id=calling_partner_id(request),
            actor=calling_client(request),
            **data.validated_data,
        )
        body = WebhookEndpointWithSecretSerializer(endpoint, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointApi(APIView):
    required_scopes = SCOPES

    @extend_schema(
        responses=WebhookEndpointSerializer,
        operation_id="webhook_endpoints_retrieve",
        summary="One webhook endpoint",
        description="An endpoint of yours, without its secret. Another partner's is 404.",
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(WebhookEndpointSerializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(
        request=WebhookEndpointUpdateInput,
        responses=WebhookEndpointSerializer,
        operation_id="webhook_endpoints_update",
        summary="Change a webhook endpoint",
        description=(
            "Change the URL, event types, description or enabled flag; fields you leave out "
            "stay as they are. A new URL is checked as on creation. Disabling stops new "
            "deliveries; re-enabling resumes them."
        ),
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        data = WebhookEndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            endpoint=endpoint, actor=calling_client(request), **data.validated_data
        )
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        responses={204: None},
        operation_id="webhook_endpoints_delete",
        summary="Remove a webhook endpoint",
        description=(
            "Stops all deliveries to the endpoint and removes it (204). Its past deliveries "
            "stay in webhook-deliveries and the event log."
        ),
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.webhook_endpoint_delete(
            endpoint=_endpoint(request, endpoint_id), actor=calling_client(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretApi(IdempotentMixin, APIView):
    required_scopes = SCOPES

    @extend_schema(
        request=None,
        responses=WebhookEndpointWithSecretSerializer,
        summary="Rotate an endpoint's signing secret",
        description=(
            "Issues a new signing secret, shown in this response only: store it now. "
            "Deliveries are signed with the new secret from then on; verify with both while "
            "you roll it out."
        ),
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            endpoint=_endpoint(request, endpoint_id), actor=calling_client(request)
        )
        body = WebhookEndpointWithSecretSerializer(endpoint, context={"secret": secret}).data
        return Response(body)


class WebhookEndpointTestApi(IdempotentMixin, APIView):
    required_scopes = SCOPES

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer},
        summary="Send a test event to an endpoint",
        description=(
            "Queues a signed ping event to the endpoint and answers with its delivery "
            "(202: it is sent shortly; follow it in webhook-deliveries). 409 when the endpoint "
            "is disabled (webhook_endpoint_disabled)."
        ),
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery = services.webhook_endpoint_test(
            endpoint=_endpoint(request, endpoint_id), actor=calling_client(request)
        )
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(APIView):
    required_scopes = SCOPES

    @extend_schema(
        parameters=[
            DeliveryListInput,
            *PAGE_PARAMETERS,
        ],
        responses=page_of(DeliverySerializer),
        summary="Webhook deliveries to your endpoints",
        description=(
            "Every attempt schedule the gateway keeps for your events, newest first, filtered "
            "by endpoint, event type or status: pending, delivered, failed (retries "
            "exhausted). Use it with the event log to reconcile what you received."
        ),
    )
    def get(self, request: Request) -> Response:
        filters = DeliveryListInput(data=query_filters(request))
        filters.is_valid(raise_exception=True)
        deliveries = selectors.deliveries_for(
            partner_id=calling_partner_id(request),
            endpoint_id=filters.validated_data.get("endpoint"),
            event_type=filters.validated_data.get("event_type"),
            status=filters.validated_data.get("status"),
        )
        return paginated(self, deliveries, DeliverySerializer)


class DeliveryRetryApi(IdempotentMixin, APIView):
    required_scopes = SCOPES

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer},
        summary="Retry a delivery now",
        description=(
            "Puts a failed or pending delivery back on the schedule for an immediate attempt "
            "(202). 409 delivery_in_flight while an attempt is running, "
            "webhook_endpoint_disabled while its endpoint is disabled."
        ),
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        deliveries = selectors.deliveries_for(partner_id=calling_partner_id(request))
        delivery: Delivery = get_object_or_404(deliveries, pk=delivery_id)
        delivery = services.delivery_retry(delivery=delivery, actor=calling_client(request))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventListApi(APIView):
    required_scopes = SCOPES

    @extend_schema(
        parameters=[
            EventListInput,
            *PAGE_PARAMETERS,
        ],
        responses=page_of(EventSerializer),
        summary="The event log, for reconciliation",
        description=(
            "Every event rendered for you, with the payload your endpoints were sent, newest "
            "first, filtered by type and a time window (until later than since). Fetch what "
            "you missed during an outage from here rather than waiting for retries."
        ),
    )
    def get(self, request: Request) -> Response:
        filters = EventListInput(data=query_filters(request))
        filters.is_valid(raise_exception=True)
        payloads = selectors.event_log_for(
            partner_id=calling_partner_id(request),
            event_type=filters.validated_data.get("type"),
            since=filters.validated_data.get("since"),
            until=filters.validated_data.get("until"),
        )
        return paginated(self, payloads, EventSerializer)
