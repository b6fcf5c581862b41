"""The referral API. Lookups start from the caller's own referrals (sent or received), so
another partner's referral is a plain 404; each action then checks the caller's role."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.common import (
    PAGE_PARAMETERS,
    calling_client,
    calling_client_id,
    calling_partner_id,
    page_of,
    paginated_json,
    query_filters,
)
from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.errors import NotFoundError
from exchanges.referrals import services
from exchanges.referrals.api.serializers import (
    ReasonInput,
    ReferralConvertInput,
    ReferralCreateInput,
    ReferralOutput,
    referral_row_json,
)
from exchanges.referrals.models import Referral
from exchanges.referrals.selectors import referral_list_rows, referral_of

READ, WRITE = ["referrals:read"], ["referrals:write"]


class ReferralListInput(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["inbound", "outbound"], required=False)
    status = serializers.ChoiceField(choices=Referral.Status.choices, required=False)


def _referral(request: Request, referral_id: str) -> Referral:
    referral = referral_of(partner_id=calling_partner_id(request), referral_id=referral_id)
    if referral is None:
        raise NotFoundError("No referral with this id was sent by or to you.")
    return referral


def _shown(
    request: Request, referral: Referral, disclosed: services.Disclosed | None = None
) -> Response:
    context = {"partner_id": calling_partner_id(request), "disclosed": {referral.pk: disclosed}}
    return Response(ReferralOutput(referral, context=context).data)


def _act(request: Request, referral_id: str, service, **fields) -> Response:
    """Run one referral service as the calling partner; show the result under its own id."""
    mine = _referral(request, referral_id)
    referral = service(
        referral=mine,
        partner_id=calling_partner_id(request),
        actor=calling_client(request),
        **fields,
    )
    referral.pairwise_id = mine.pairwise_id
    return _shown(request, referral)


class ReferralListApi(APIView):
    required_scopes = READ

    @extend_schema(
        parameters=[ReferralListInput, *PAGE_PARAMETERS],
        responses=page_of(ReferralOutput),
        summary="Referrals you sent (outbound) or received (inbound)",
        operation_id="referrals_list",
        description=(
            "Both directions by default, newest first; filter by direction and status. Each "
            "shows the customer under your own customer id; the consented data of an inbound "
            "referral is read one at a time from GET /api/v1/referrals/{referral_id}."
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        query = ReferralListInput(data=query_filters(request))
        query.is_valid(raise_exception=True)
        partner_id = calling_partner_id(request)
        rows = referral_list_rows(partner_id=partner_id, **query.validated_data)
        return paginated_json(self, rows, referral_row_json(partner_id))


class ReferralCreateApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=ReferralCreateInput,
        responses={
            201: ReferralOutput,
            404: OpenApiResponse(
                description="not_found: no customer with this customer_id is linked to you."
            ),
        },
        summary="Refer a customer to another partner",
        operation_id="referrals_create",
        description=(
            "Needs an active partnership flow for referral and the customer's active referral "
            "consent. Refusals: 403 consent_required (the response says how to ask), "
            "partnership_required, recipient_inactive; 409 duplicate_referral; 429 "
            "referral_limit_reached; 400 referral_self, note_reveals_customer_data; 409 "
            "link_pending (your customer id, but the customer has not confirmed the link yet)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = ReferralCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        referral_note = data.validated_data["note"]  # trimmed by the field
        referral = services.referral_create(
            from_partner_id=calling_partner_id(request),
            client_id=calling_client_id(request),
            customer_id=data.validated_data["customer_id"],
            to_partner_id=data.validated_data["to_partner"],
            note=referral_note,
        )
        referral.pairwise_id = data.validated_data["customer_id"]  # the sender's own id
        response = _shown(request, referral, services.Disclosed(note=referral_note or None))
        response.status_code = status.HTTP_201_CREATED
        return response


class ReferralDetailApi(APIView):
    required_scopes = READ

    @extend_schema(
        responses=ReferralOutput,
        summary="One referral",
        description=(
            "While the consent is active, the recipient sees the consented data and the "
            "sender's note (each read is recorded for the customer); the sender sees its note."
        ),
    )
    def get(self, request: Request, referral_id: str) -> Response:
        referral = _referral(request, referral_id)
        disclosed = services.referral_disclosed_to(
            referral=referral,
            partner_id=calling_partner_id(request),
            client_id=calling_client_id(request),
        )
        return _shown(request, referral, disclosed)


class ReferralAcceptApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=None,
        responses=ReferralOutput,
        summary="Accept a referral sent to you",
        description=(
            "The recipient takes the referral on (sent → accepted). 403 invalid_party if you "
            "sent it; 409 invalid_transition if it is no longer sent (withdrawn, expired, "
            "already answered)."
        ),
    )
    def post(self, request: Request, referral_id: str) -> Response:
        return _act(request, referral_id, services.referral_accept)


class ReferralDeclineApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=ReasonInput,
        responses=ReferralOutput,
        summary="Decline a referral",
        description=(
            "The recipient turns the referral down (sent → declined), with an optional reason "
            "the sender sees. 403 invalid_party if you sent it; 409 invalid_transition if it "
            "is no longer sent."
        ),
    )
    def post(self, request: Request, referral_id: str) -> Response:
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _act(
            request, referral_id, services.referral_decline, reason=data.validated_data["reason"]
        )


class ReferralConvertApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=ReferralConvertInput,
        responses=ReferralOutput,
        summary="Record a conversion",
        description=(
            "The recipient records that the referred customer became its customer (accepted → "
            "converted), optionally with the value of the business as a decimal string and an "
            "ISO 4217 currency; the partnership's reward rules then issue their rewards. 403 "
            "invalid_party if you sent it; 409 invalid_transition unless it is accepted."
        ),
    )
    def post(self, request: Request, referral_id: str) -> Response:
        data = ReferralConvertInput(data=request.data)
        data.is_valid(raise_exception=True)
        value = data.validated_data.get("value") or {}
        return _act(
            request,
            referral_id,
            services.referral_convert,
            amount=value.get("amount"),
            currency=value.get("currency", ""),
        )


class ReferralWithdrawApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=ReasonInput,
        responses=ReferralOutput,
        summary="Withdraw your referral",
        description=(
            "The sender takes the referral back while it is sent or accepted; its snapshot of "
            "the customer's data is deleted at once. 403 invalid_party if it was sent to you; "
            "409 invalid_transition once it is converted, declined or expired."
        ),
    )
    def post(self, request: Request, referral_id: str) -> Response:
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _act(
            request, referral_id, services.referral_withdraw, reason=data.validated_data["reason"]
        )
