"""The rewards API: report activity, read the rewards you fund or receive. Lookups start
from the caller's own rewards, so another partner's is a plain 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.common import (
    calling_client_id,
    calling_partner_id,
    page_of,
    paginated,
    query_filters,
)
from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.errors import NotFoundError
from exchanges.rewards import services
from exchanges.rewards.api.pagination import RewardPagination
from exchanges.rewards.api.serializers import (
    ActivitiesInput,
    ActivitiesOutput,
    RewardListInput,
    RewardOutput,
)
from exchanges.rewards.selectors import reward_of, rewards_for


class ActivitiesApi(IdempotentMixin, APIView):
    required_scopes = ["events:write"]

    @extend_schema(
        request=ActivitiesInput,
        responses=ActivitiesOutput,
        summary="Report what customers did (1-500 items); a result per item",
        operation_id="activities_create",
        description=(
            "Each item is accepted only under the customer's active rewards consent from you "
            "to a partner with a reward rule for its type, covering the type's data category; "
            "otherwise it is refused with a code (consent_required, unknown_customer, "
            "unknown_type, no_rule, duplicate, too_old, occurred_in_future). Items are unique "
            "per external_id: a retried batch never counts twice."
        ),
    )
    def post(self, request: Request) -> Response:
        data = ActivitiesInput(data=request.data)
        data.is_valid(raise_exception=True)
        results = services.activities_ingest(
            partner_id=calling_partner_id(request),
            client_id=calling_client_id(request),
            items=data.validated_data["items"],
        )
        accepted = sum(result.status == "accepted" for result in results)
        body = {"accepted": accepted, "refused": len(results) - accepted, "results": results}
        return Response(ActivitiesOutput(body).data)


class RewardsApi(APIView):
    required_scopes = ["rewards:read"]

    @extend_schema(
        parameters=[RewardListInput],
        responses=page_of(RewardOutput),
        summary="Rewards you fund or receive",
        operation_id="rewards_list",
        description=(
            "Rewards where you are the funder or the recipient, newest first, filtered by "
            "status, rule or calendar period (YYYY-MM). Amounts are decimal strings with their "
            "currency, or points with their programme."
        ),
    )
    def get(self, request: Request) -> Response:
        query = RewardListInput(data=query_filters(request))
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        rewards = rewards_for(
            partner_id=calling_partner_id(request),
            status=filters.get("status"),
            rule_id=filters.get("rule"),
            period=filters.get("period"),
        )
        return paginated(self, rewards, RewardOutput, pagination=RewardPagination)


class RewardDetailApi(APIView):
    required_scopes = ["rewards:read"]

    @extend_schema(
        responses=RewardOutput,
        summary="One reward you fund or receive",
        description=(
            "A reward is pending until its lock date, then posted to the ledger; it is voided "
            "if the consent behind it is withdrawn first. Another partner's reward is 404."
        ),
    )
    def get(self, request: Request, reward_id: str) -> Response:
        reward = reward_of(partner_id=calling_partner_id(request), reward_id=reward_id)
        if reward is None:
            raise NotFoundError("No reward with this id is funded by or paid to you.")
        return Response(RewardOutput(reward).data)
