"""The OAuth endpoints partners call: token (throttled before the secret is checked),
introspection (only a token's own client may ask), revocation, and RFC 8414 metadata.

What standard clients (authlib, requests-oauthlib) expect of them:
- a failed client authentication is ``401 {"error": "invalid_client"}`` with a challenge in the
  scheme clients authenticate with here, ``Basic`` (RFC 6749 §5.2; oauthlib writes ``Bearer``,
  the scheme of resource servers);
- a method other than POST is ``405`` problem+json with ``Allow: POST``, as the other errors
  outside the OAuth protocol on these paths (404, 429) are;
- a revocation that succeeds is ``200`` with the JSON body ``{}``: RFC 7009 §2.2 has the client
  ignore the body, and clients that parse a JSON answer whatever the status find one.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauth2_provider.views import IntrospectTokenView, RevokeTokenView, TokenView
from oauthlib.common import Request as OauthlibRequest

from ecosystem.errors import problem_response
from ecosystem.ratelimit import client_address, ratelimit_hit
from partners.oauth import token_cache
from partners.oauth.validators import client_is_usable
from partners.scopes import SCOPES

CLIENT_ID = re.compile(r"[A-Za-z0-9_.~-]{1,80}")
BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'


def _invalid_client() -> JsonResponse:
    response = JsonResponse(
        {"error": "invalid_client", "error_description": "Client authentication failed."},
        status=401,
    )
    response["WWW-Authenticate"] = BASIC_CHALLENGE
    return response


def _oauth_answer(response: HttpResponse) -> HttpResponse:
    """The finishing touches every /o/ endpoint's answer gets (see the module docstring)."""
    if response.status_code == 401:
        response["WWW-Authenticate"] = BASIC_CHALLENGE
    return response


class _PostOnly:
    http_method_names = ["post", "options"]

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = problem_response(
            request,
            status=405,
            code="method_not_allowed",
            title="Method not allowed.",
            detail="This OAuth endpoint takes POST only (RFC 6749 §3.2).",
        )
        response["Allow"] = "POST"
        return response


def _client_id_of(request: HttpRequest) -> str:
    """The client id a token request claims, for its rate-limit counter: one bucket for
    every id no client could have (NUL bytes and the like are no cache key)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Basic "):
        try:
            claimed = base64.b64decode(header[6:]).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            claimed = ""
    else:
        claimed = request.POST.get("client_id", "")
    return claimed if CLIENT_ID.fullmatch(claimed) else "-"


@method_decorator(csrf_exempt, name="dispatch")  # DOT's own dispatch is exempt; keep it so
class ThrottledTokenView(_PostOnly, TokenView):
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
        return _oauth_answer(super().dispatch(request, *args, **kwargs))


@method_decorator(csrf_exempt, name="dispatch")
class PartnerRevokeTokenView(_PostOnly, RevokeTokenView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = _oauth_answer(super().dispatch(request, *args, **kwargs))
        if response.status_code == 200 and not response.content:
            return JsonResponse({})
        return response


@method_decorator(csrf_exempt, name="dispatch")
class PartnerIntrospectView(_PostOnly, IntrospectTokenView):
    """RFC 7662 introspection for the calling client's own tokens only, POST only (§2.1).

    DOT's stock view answers any authenticated client about any token and ignores partner
    status; here another client's token, a revoked client's or an inactive partner's token is
    ``{"active": false}``, exactly like an unknown one. The caller authenticates as a client
    (HTTP Basic or the form body); DOT's fallback to a bearer token is not offered, and a
    failed client authentication is ``401 invalid_client`` (§2.3), not DOT's empty 403.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST" and not self.authenticate_client(request):
            return _invalid_client()
        # Django's dispatch, not ClientProtectedResourceMixin's: that one would try the
        # request as a bearer token next and answer an empty 403.
        return View.dispatch(self, request, *args, **kwargs)

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

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        return self._answer(request.POST.get("token"))


@require_GET
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    """RFC 8414 metadata: what a partner's OAuth library needs to find our endpoints."""
    issuer = settings.SITE_URL
    return JsonResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/o/authorize/",
            "token_endpoint": f"{issuer}/o/token/",
            "introspection_endpoint": f"{issuer}/o/introspect/",
            "revocation_endpoint": f"{issuer}/o/revoke_token/",
            "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "scopes_supported": list(SCOPES),
            # The connect flow (docs/connect.md): authorization code with PKCE S256 only, the
            # RFC 9207 `iss` in every authorization response.
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "jwks_uri": f"{issuer}/o/jwks/",
            "service_documentation": f"{issuer}/api/docs/",
        }
    )
