"""POST /api/v1/partner-registrations: apply to join, no authentication, throttled."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.text import slugify
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from ecosystem.api import fields as strict
from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.ratelimit import client_address, ratelimit_hit
from partners.models import Partner
from partners.services.partners import partner_apply


class RegistrationInput(serializers.Serializer):
    slug = strict.SlugField(max_length=50)
    name = strict.CharField(max_length=120)
    sector = serializers.ChoiceField(choices=Partner.Sector.choices)
    contact_name = strict.CharField(max_length=120)
    contact_email = strict.EmailField(max_length=254)
    website = strict.URLField(max_length=200, required=False, default="")
    description = strict.CharField(max_length=2000, required=False, default="")
    address = strict.CharField(
        max_length=500,
        required=False,
        default="",
        help_text="The data controller's postal address: required before approval.",
    )
    phone = strict.CharField(
        max_length=40, required=False, default="", help_text="Required before approval."
    )
    privacy_notice_url = strict.URLField(
        max_length=500,
        required=False,
        default="",
        help_text="Your privacy notice, linked from consent receipts: required before approval.",
    )


class RegistrationOutput(serializers.Serializer):
    """The same answer for every application that passes validation: whether the contact
    email already belongs to a partner is told to that address by email, never here."""

    slug = serializers.CharField()
    name = serializers.CharField()
    sector = serializers.ChoiceField(choices=Partner.Sector.choices)
    status = serializers.ChoiceField(
        choices=[("received", "received")],
        help_text="received: an admin reviews it; the contact email hears the outcome.",
    )


class ApplicationsPerAddressThrottle(BaseThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        window = ratelimit_hit(
            f"apply:{client_address(request.META)}",
            limit=settings.PARTNER_APPLY_RATE_PER_MINUTE,
            period=60,
        )
        request._request.ratelimit = window  # type: ignore[attr-defined]
        self._wait = window.reset
        return window.allowed

    def wait(self) -> float:
        return self._wait


class PartnerRegistrationCreateApi(IdempotentMixin, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ApplicationsPerAddressThrottle]

    @extend_schema(
        request=RegistrationInput,
        responses={202: RegistrationOutput},
        auth=[],
        summary="Apply to join the ecosystem (pending until an admin approves)",
        description=(
            "202 for every valid application: whether the contact email already belongs to a "
            "partner is told to that address by email, not in the answer. Refusals: 400 "
            "validation_error, slug_taken (both list the field in errors); 429 rate_limited."
        ),
    )
    def post(self, request: Request) -> Response:
        data = RegistrationInput(data=request.data)
        data.is_valid(raise_exception=True)
        partner_apply(**data.validated_data)
        answer = {**data.validated_data, "slug": slugify(data.validated_data["slug"])}
        return Response(RegistrationOutput({**answer, "status": "received"}).data, status=202)
