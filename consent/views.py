"""Public, unauthenticated pages of the consent app."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from consent.jws import published_jwks


@require_GET
@cache_control(public=True, max_age=300)
def jwks(request: HttpRequest) -> JsonResponse:
    """The public keys consent receipts and access checkpoints verify with (RFC 7517),
    retired keys included."""
    return JsonResponse(published_jwks(), content_type="application/jwk-set+json")
