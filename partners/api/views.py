from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.pagination import CursorPagination
from partners.api.serializers import PartnerOutput, PartnershipOutput
from partners.models import Partner
from partners.selectors import partnerships_active_for


class PartnerDetailApi(APIView):
    required_scopes = ["partner:read"]

    @extend_schema(
        responses=PartnerOutput,
        summary="The calling partner",
        description=(
            "Your partner record as the gateway holds it: id, name, sector, status, and the "
            "scopes of the token you called with. A cheap way to check a new token works."
        ),
    )
    def get(self, request: Request) -> Response:
        partner = Partner.objects.get(pk=request.auth.partner.pk)
        return Response(PartnerOutput(partner, context={"token": request.auth}).data)


class PartnershipPagination(CursorPagination):
    ordering = ("-created_at", "id")


class PartnershipListApi(ListAPIView):
    required_scopes = ["partner:read"]
    serializer_class = PartnershipOutput
    pagination_class = PartnershipPagination

    def get_queryset(self):
        return partnerships_active_for(partner_id=self.request.auth.partner.pk)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "partner_id": self.request.auth.partner.pk}

    @extend_schema(
        summary="Active partnerships of the calling partner, with their flows",
        description=(
            "Partnerships in force that you are part of, newest first. Each lists its directed "
            "flows: which purpose may flow from which partner to which, carrying which data "
            "categories. A flow that is not listed cannot happen, whatever a customer consents."
        ),
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
