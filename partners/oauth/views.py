"""The OAuth endpoints partners call: token (throttled before the secret is checked),
introspection (only a token's own client may ask), and RFC 8414 metadata."""

from __future__ import annotations

import base64
import binascii
import calendar
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.views import IntrospectTokenView, TokenView
from oauthlib.common import Request as OauthlibRequest

from ecosystem.errors import problem_response
from ecosystem.ratelimit import client_address, ratelimit_hit
from partners.oauth import token_cache
from partners.oauth.validators import client_is_usable
from partners.scopes import SCOPES


def _client_id_of(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Basic "):
        try:
            return base64.b64decode(header[6:]).decode().partition(":")[0][:80]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return request.POST.get("client_id", "")[:80]


@method_decorator(csrf_exempt, name="dispatch")  # DOT's own dispatch is exempt; keep it so
class ThrottledTokenView(TokenView):
    """DOT's token endpoint behind per-client and per-address limits, counted before the
    request is parsed or the secret hashed."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = settings.OAUTH_TOKEN_RATE_PER_MINUTE
        for key in (
            f"token:client:{_client_id_of(request)}",
            f"token:ip:{client_address(request.META)}",
        ):
            window = ratelimit_hit(key, limit=limit, period=60)
            if not window.allowed:
                response = problem_response(
                    request,
                    status=429,
                    code="rate_limited",
                    title="Too many requests.",
                    detail=f"At most {limit} token requests a minute; retry after the reset.",
                )
                response["Retry-After"] = str(window.reset)
                return response
        return super().dispatch(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
class PartnerIntrospectView(IntrospectTokenView):
    """RFC 7662 introspection for the calling client's own tokens only.

    DOT's stock view answers any authenticated client about any token and ignores partner
    status; here another client's token, a revoked client's or an inactive partner's token is
    ``{"active": false}``, exactly like an unknown one.
    """

    def authenticate_client(self, request: HttpRequest) -> bool:
        core = get_oauthlib_core()
        uri, method, body, headers = core._extract_params(request)
        oauth_request = OauthlibRequest(uri, method, body, headers)
        valid = core.server.request_validator.authenticate_client(
            oauth_request
        ) and client_is_usable(oauth_request.client)
        self.caller = oauth_request.client if valid else None
        return bool(valid)

    def _answer(self, token_value: str | None) -> JsonResponse:
        if not token_value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Token parameter is missing."},
                status=400,
            )
        token = token_cache.load_token(token_value)
        caller = getattr(self, "caller", None)
        if (
            token is None
            or caller is None
            or token.application.client_id != caller.client_id
            or token.client_revoked
            or not token.partner.is_active
            or not client_is_usable(caller)
            or not token.is_valid()
        ):
            return JsonResponse({"active": False})
        return JsonResponse(
            {
                "active": True,
                "scope": token.scope,
                "client_id": caller.client_id,
                "token_type": "Bearer",
                "exp": int(calendar.timegm(token.expires.timetuple())),
            }
        )

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return self._answer(request.GET.get("token"))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return self._answer(request.POST.get("token"))


@require_GET
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    """RFC 8414 metadata: what a partner's OAuth library needs to find our endpoints."""
    issuer = settings.SITE_URL
    return JsonResponse(
        {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/o/token/",
            "introspection_endpoint": f"{issuer}/o/introspect/",
            "revocation_endpoint": f"{issuer}/o/revoke_token/",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],
            "service_documentation": f"{issuer}/api/docs/",
        }
    )
