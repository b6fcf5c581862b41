"""The rewards API: report activity, read the rewards you fund or receive and your monthly
settlement statements. Lookups start from the caller's own rows, so another partner's is a
plain 404."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
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
from exchanges.rewards.api.pagination import RewardPagination, StatementPagination
from exchanges.rewards.api.serializers import (
    ActivitiesInput,
    ActivitiesOutput,
    RewardListInput,
    RewardOutput,
    StatementDetailOutput,
    StatementListInput,
    StatementOutput,
)
from exchanges.rewards.selectors import reward_of, rewards_for, statement_of, statements_for
from exchanges.rewards.statement_csv import statement_csv


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


class StatementsApi(APIView):
    required_scopes = ["rewards:read"]

    @extend_schema(
        parameters=[StatementListInput],
        responses=page_of(StatementOutput),
        summary="Your monthly settlement statements",
        operation_id="statements_list",
        description=(
            "One statement per partner pair, month and currency: the referral fees posted "
            "(and reversed) between you and the counterparty that month, and who owes whom. "
            "Written at the month's close and never changed. Newest period first."
        ),
    )
    def get(self, request: Request) -> Response:
        query = StatementListInput(data=query_filters(request))
        query.is_valid(raise_exception=True)
        partner_id = calling_partner_id(request)
        statements = statements_for(
            partner_id=partner_id,
            period=query.validated_data.get("period"),
            counterparty=query.validated_data.get("counterparty"),
        )
        return paginated(
            self,
            statements,
            StatementOutput,
            pagination=StatementPagination,
            context={"partner_id": partner_id},
        )


class StatementCsvRenderer(BaseRenderer):
    """``Accept: text/csv`` or ``?format=csv``: the statement's lines, one row each. An error
    keeps its problem+json body (its response names that content type itself)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is None or response.exception:
            return JSONRenderer().render(data)
        return data.encode("utf-8")


class StatementDetailApi(APIView):
    required_scopes = ["rewards:read"]
    renderer_classes = [JSONRenderer, StatementCsvRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="csv: the lines as CSV (the same as Accept: text/csv).",
            )
        ],
        responses={
            (200, "application/json"): StatementDetailOutput,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="One row per line: statement_id, period, unit, transaction_id, "
                "kind, reward_id, rule_id, trigger, booked_at, payer, payee, direction, "
                "amount.",
            ),
        },
        summary="One statement with its lines (JSON or CSV)",
        operation_id="statements_retrieve",
        description=(
            "The statement with a line per posted transaction between you and the "
            "counterparty that month. With Accept: text/csv or ?format=csv, the lines as CSV "
            "(one row each). Another partner's statement is 404."
        ),
    )
    def get(self, request: Request, statement_id: str) -> Response:
        partner_id = calling_partner_id(request)
        statement = statement_of(partner_id=partner_id, statement_id=statement_id)
        if statement is None:
            raise NotFoundError("No statement with this id is yours.")
        if request.accepted_renderer.format == "csv":
            filename = f"{statement.pk}.csv"
            return Response(
                statement_csv(statement, partner_id=partner_id),
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return Response(StatementDetailOutput(statement, context={"partner_id": partner_id}).data)
