"""The offers API, one view per operation (operations sharing a path are routed by method in
urls.py with ``ecosystem.api.routing.by_method``). Lookups start from the caller's own offers
(led or co-sponsored), so anyone else's offer is a plain 404; each action then checks the
caller's part in it."""

from __future__ import annotations

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
    paginated,
    query_filters,
)
from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.api.pagination import CursorPagination
from ecosystem.errors import NotFoundError
from exchanges.offers import selectors, services
from exchanges.offers.api.serializers import (
    OfferInput,
    OfferOutput,
    OfferPatchInput,
    RedemptionInput,
    RedemptionOutput,
)
from exchanges.offers.models import Offer

READ, WRITE, REDEEM = ["offers:read"], ["offers:write"], ["offers:redeem"]


class OfferPagination(CursorPagination):
    ordering = ("-created_at", "id")


class OfferListInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Offer.Status.choices, required=False)


def _offer(request: Request, offer_id: str) -> Offer:
    offer = selectors.offer_of(partner_id=calling_partner_id(request), offer_id=offer_id)
    if offer is None:
        raise NotFoundError("No offer with this id is yours (as lead or co-sponsor).")
    return offer


def _shown(request: Request, offer_id: str, code: int = status.HTTP_200_OK) -> Response:
    return Response(OfferOutput(_offer(request, offer_id)).data, status=code)


class OfferListApi(APIView):
    required_scopes = READ

    @extend_schema(
        parameters=[OfferListInput, *PAGE_PARAMETERS],
        responses=page_of(OfferOutput),
        summary="Offers you lead or were named on as a co-sponsor",
        operation_id="offers_list",
        description=(
            "Newest first, with each co-sponsor's answer and the redemption count; never who "
            "can see an offer. Filter with status."
        ),
    )
    def get(self, request: Request) -> Response:
        query = OfferListInput(data=query_filters(request))
        query.is_valid(raise_exception=True)
        offers = selectors.offers_for_partner(
            partner_id=calling_partner_id(request), **query.validated_data
        )
        return paginated(self, offers, OfferOutput, pagination=OfferPagination)


class OfferCreateApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=OfferInput,
        responses={201: OfferOutput},
        summary="Draft an offer (you are its lead sponsor)",
        operation_id="offers_create",
        description=(
            "An optional reward: each redemption earns the customer reward.amount of "
            "reward.unit, funded by reward.funder (you or a co-sponsor), in the rewards "
            "ledger. Refusals: 403 partnership_required (a co-sponsor is not in an active "
            "partnership with you); 400 invalid_window, invalid_caps, invalid_sponsor, "
            "offer_incomplete, reward_funder_not_sponsor, invalid_reward_amount (not above "
            "zero, or finer than the unit allows), invalid_reward_unit (neither an ISO 4217 "
            "currency nor a points programme code)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = OfferInput(data=request.data)
        data.is_valid(raise_exception=True)
        offer = services.offer_create(
            partner_id=calling_partner_id(request),
            actor=calling_client(request),
            **data.validated_data,
        )
        return _shown(request, offer.pk, status.HTTP_201_CREATED)


class OfferDetailApi(APIView):
    required_scopes = READ

    @extend_schema(
        responses=OfferOutput,
        summary="One offer",
        description="An offer you lead or were named on; anyone else's is 404 not_found.",
    )
    def get(self, request: Request, offer_id: str) -> Response:
        return Response(OfferOutput(_offer(request, offer_id)).data)


class OfferUpdateApi(APIView):
    required_scopes = WRITE

    @extend_schema(
        request=OfferPatchInput,
        responses={
            200: OfferOutput,
            409: OpenApiResponse(
                description="offer_not_editable: the offer's state allows no such edit (a "
                "published offer takes only a later ends_at); invalid_transition."
            ),
        },
        summary="Edit a draft, or extend a published offer",
        description=(
            "The lead edits drafts (a rejected offer becomes a draft again; co-sponsors are "
            "asked again), the reward included (null removes it; the same 400 refusals as "
            "creating one). Approved and published offers take only a later ends_at. 403 "
            "invalid_party when you are not the lead."
        ),
    )
    def patch(self, request: Request, offer_id: str) -> Response:
        mine = _offer(request, offer_id)
        data = OfferPatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.offer_update(
            offer_id=mine.pk,
            partner_id=calling_partner_id(request),
            actor=calling_client(request),
            **data.validated_data,
        )
        return _shown(request, mine.pk)


class OfferSubmitApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=None,
        responses=OfferOutput,
        summary="Submit a draft for review",
        description="409 cosponsors_not_accepted, invalid_transition; 403 invalid_party.",
    )
    def post(self, request: Request, offer_id: str) -> Response:
        mine = _offer(request, offer_id)
        services.offer_submit(
            offer_id=mine.pk, partner_id=calling_partner_id(request), actor=calling_client(request)
        )
        return _shown(request, mine.pk)


class OfferRetireApi(IdempotentMixin, APIView):
    required_scopes = WRITE

    @extend_schema(
        request=None,
        responses=OfferOutput,
        summary="Retire an approved or live offer",
        description=(
            "The lead only (403 invalid_party). Customers stop seeing it at once; sponsors "
            "are told offer.retired. 409 invalid_transition from any other state."
        ),
    )
    def post(self, request: Request, offer_id: str) -> Response:
        mine = _offer(request, offer_id)
        services.offer_retire(
            offer_id=mine.pk, partner_id=calling_partner_id(request), actor=calling_client(request)
        )
        return _shown(request, mine.pk)


class RedemptionPagination(CursorPagination):
    ordering = ("-created_at", "id")


class OfferRedemptionListApi(APIView):
    required_scopes = READ

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(RedemptionOutput),
        summary="The offer's redemptions, under your own customer ids",
        operation_id="offer_redemptions_list",
        description=(
            "Newest first. customer_id is your own id (null where you are not linked to the "
            "customer); external_id is shown on your own redemptions only."
        ),
    )
    def get(self, request: Request, offer_id: str) -> Response:
        partner_id = calling_partner_id(request)
        rows = selectors.offer_redemptions(offer=_offer(request, offer_id), partner_id=partner_id)
        return paginated(
            self,
            rows,
            RedemptionOutput,
            context={"partner_id": partner_id},
            pagination=RedemptionPagination,
        )


class OfferRedemptionCreateApi(IdempotentMixin, APIView):
    required_scopes = REDEEM

    @extend_schema(
        request=RedemptionInput,
        responses={201: RedemptionOutput, 200: RedemptionOutput},
        summary="Record that a customer redeemed the offer",
        operation_id="offer_redemptions_create",
        description=(
            "Idempotent per external_id: the same one again answers 200 with the first "
            "redemption. An offer with a reward issues it to the customer in the same "
            "transaction (reward_id; reward.issued to its funder and to you), once per "
            "redemption. Refusals: 403 customer_not_eligible (no active offers consent to a "
            "sponsor), invalid_party; 409 offer_not_live, cap_reached, customer_cap_reached, "
            "external_id_reused; 404 for a customer id that is not yours."
        ),
    )
    def post(self, request: Request, offer_id: str) -> Response:
        data = RedemptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        partner_id = calling_partner_id(request)
        redemption, created = services.redemption_create(
            offer=_offer(request, offer_id),
            partner_id=partner_id,
            client_id=calling_client_id(request),
            **data.validated_data,
        )
        redemption.pairwise_id = data.validated_data["customer_id"]
        return Response(
            RedemptionOutput(redemption, context={"partner_id": partner_id}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
