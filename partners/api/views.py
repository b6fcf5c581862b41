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

    @extend_schema(responses=PartnerOutput, summary="The calling partner")
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

    @extend_schema(summary="Active partnerships of the calling partner, with their flows")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
