"""The partner consent API: customer links, consent requests, a customer's consents.

Customers are addressed by the caller's own pairwise id; a lookup starts from the caller's
links, so another partner's id (or an unknown one) is a plain 404.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.api.serializers import (
    ConsentOutput,
    ConsentRequestCreateInput,
    CustomerLinkCreateInput,
    CustomerLinkOutput,
)
from consent.models import PartnerLink
from consent.selectors import consents_in_force, consents_visible_to, link_of_partner
from consent.services.consents import (
    consent_request_create,
    consent_request_read,
    consents_disclosed,
)
from consent.services.links import customer_link_create, customer_link_read
from ecosystem.api.common import (
    PAGE_PARAMETERS,
    calling_client_id,
    calling_partner_id,
    page_of,
    paginated,
)
from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.api.pagination import CursorPagination
from ecosystem.errors import NotFoundError

CustomerAlreadyLinkedProblem = inline_serializer(
    name="CustomerAlreadyLinkedProblem",
    fields={
        "customer_id": serializers.CharField(help_text="Your pairwise id for this customer."),
        "external_ref": serializers.CharField(help_text="The reference you linked them under."),
    },
)


def _link(request: Request, customer_id: str) -> PartnerLink:
    link = link_of_partner(partner_id=calling_partner_id(request), customer_id=customer_id)
    if link is None:
        raise NotFoundError("No customer with this id is linked to you.")
    return link


class CustomerLinkCreateApi(IdempotentMixin, APIView):
    required_scopes = ["customers:link"]

    @extend_schema(
        request=CustomerLinkCreateInput,
        responses={
            201: CustomerLinkOutput,
            200: CustomerLinkOutput,
            409: OpenApiResponse(
                response=CustomerAlreadyLinkedProblem,
                description="customer_already_linked: the email is of a customer you linked "
                "under another external_ref; the body names that customer_id and reference.",
            ),
        },
        summary="Invite a customer to link with you",
        description=(
            "Creates a pending link and emails the customer an invitation to confirm it. "
            "Posting an external_ref you used before returns that link (200). A new "
            "external_ref with the email of a customer you already linked is 409 "
            "customer_already_linked, naming your customer_id and external_ref for them. "
            "Invitations are capped per partner per 24 hours (429 invitation_limit_reached)."
        ),
    )
    def post(self, request: Request) -> Response:
        data = CustomerLinkCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        link, created = customer_link_create(
            partner_id=calling_partner_id(request),
            client_id=calling_client_id(request),
            **data.validated_data,
        )
        return Response(
            CustomerLinkOutput(link).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CustomerLinkDetailApi(APIView):
    required_scopes = ["customers:link"]

    @extend_schema(
        responses=CustomerLinkOutput,
        summary="A customer link's status",
        description=(
            "The link under your customer id: pending until the customer confirms the "
            "invitation in the portal, then active (or refused, expired, ended). Another "
            "partner's customer id answers 404, like one that does not exist."
        ),
    )
    def get(self, request: Request, customer_id: str) -> Response:
        link = customer_link_read(
            partner_id=calling_partner_id(request),
            customer_id=customer_id,
            client_id=calling_client_id(request),
        )
        return Response(CustomerLinkOutput(link).data)


class ConsentPagination(CursorPagination):
    ordering = ("-created_at", "id")


class CustomerConsentListApi(APIView):
    required_scopes = ["consent:read"]

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=page_of(ConsentOutput),
        summary="A customer's consents that concern you",
        description=(
            "Consents where you are the source (requests included) or the recipient (once "
            "granted), newest first; in_force says whether data may flow under each now. "
            "Three queries whatever the page size."
        ),
    )
    def get(self, request: Request, customer_id: str) -> Response:
        link = _link(request, customer_id)
        consents = consents_visible_to(
            partner_id=calling_partner_id(request), customer_id=link.customer_id
        )
        now = timezone.now()
        context = {"customer_id": link.pk, "now": now, "partner_id": link.partner_id}
        response = paginated(
            self,
            consents,
            ConsentOutput,
            context=context,
            pagination=ConsentPagination,
            page_context=lambda page: {"in_force": consents_in_force(page, at=now)},
        )
        if response.data["results"]:  # an empty page carries nothing of the customer's
            consents_disclosed(
                customer_id=link.customer_id,
                partner_id=link.partner_id,
                client_id=calling_client_id(request),
                consent_ids=[row["id"] for row in response.data["results"]],
            )
        return response


class ConsentRequestCreateApi(IdempotentMixin, APIView):
    required_scopes = ["consent:request"]

    @extend_schema(
        request=ConsentRequestCreateInput,
        responses={
            201: ConsentOutput,
            404: OpenApiResponse(
                description="not_found: no customer with this customer_id is linked to you."
            ),
        },
        summary="Ask a linked customer for consent",
        description=(
            "Creates a consent in the requested state, shown to the customer in the portal "
            "with your message and the current notice. You are the source; the recipient "
            "defaults to you (link, offers). 403 partnership_required when no active "
            "partnership flow allows the purpose and categories."
        ),
    )
    def post(self, request: Request) -> Response:
        data = ConsentRequestCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        consent = consent_request_create(
            partner_id=calling_partner_id(request),
            client_id=calling_client_id(request),
            customer_id=fields["customer_id"],
            recipient_id=fields.get("recipient"),
            purpose_code=fields["purpose"],
            data_categories=fields["data_categories"],
            message=fields["message"],
            language=fields["language"],
        )
        context = {"customer_id": fields["customer_id"], "partner_id": calling_partner_id(request)}
        body = ConsentOutput(consent, context=context).data
        return Response(body, status=status.HTTP_201_CREATED)


class ConsentRequestDetailApi(APIView):
    required_scopes = ["consent:request"]

    @extend_schema(
        responses=ConsentOutput,
        summary="A consent request you made, as it stands",
        description=(
            "Requested until the customer answers in the portal; then active (possibly with "
            "fewer categories than you asked for), refused or lapsed, and later withdrawn or "
            "expired. Only requests you made are found; anything else is 404."
        ),
    )
    def get(self, request: Request, consent_id: str) -> Response:
        consent = consent_request_read(
            partner_id=calling_partner_id(request),
            consent_id=consent_id,
            client_id=calling_client_id(request),
        )
        return Response(ConsentOutput(consent, context={"customer_id": consent.pairwise_id}).data)
