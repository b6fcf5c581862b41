"""How the API knows which partner is calling, and what it may do.

- ``PartnerAuthentication``: a DOT bearer token (served from the grant cache when warm, so no
  query) whose client is not revoked and whose partner is active. The calling partner is
  ``request.auth.partner`` (a Partner instance, no query to use its id) and the client id
  ``request.auth.partner_client_id``. A token of a suspended, rejected or offboarded partner
  is 401 ``partner_inactive``.
- ``PartnerScopePermission``: the default permission; every view declares
  ``required_scopes``; a missing scope is 403 ``insufficient_scope``.
- ``PartnerClientThrottle``: per client, fixed window, atomic counter; 429 ``rate_limited``
  with ``Retry-After``; ``RateLimit-*`` headers on every response (RateLimitHeadersMiddleware).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ecosystem.middleware import bind_caller
from ecosystem.ratelimit import client_address, ratelimit_hit
from partners.oauth import token_cache
from partners.selectors import api_client_tally


class PartnerAuthentication(OAuth2Authentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = self._from_cache(request) or super().authenticate(request)
        if result is None:
            if self._bearer(request):
                # A token was sent and is unknown, expired or revoked: RFC 6750 §3.1's
                # invalid_token, not "no credentials" (DRF's not_authenticated).
                self._refuse(request, "This access token is unknown, expired or revoked.")
            return None
        token = result[1]
        if getattr(token, "partner", None) is None or token.client_revoked:
            self._refuse(request, "This token was revoked or does not belong to a partner client.")
        if not token.partner.is_active:
            raise exceptions.AuthenticationFailed(
                "This partner is not active; its tokens are refused.", code="partner_inactive"
            )
        bind_caller(partner_id=token.partner.pk, client_id=token.partner_client_id)
        return result

    @staticmethod
    def _bearer(request: Request) -> str:
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        return raw.strip() if scheme.lower() == "bearer" else ""

    @staticmethod
    def _refuse(request: Request, detail: str) -> None:
        request.oauth2_error = {"error": "invalid_token"}  # named in the WWW-Authenticate challenge
        raise exceptions.AuthenticationFailed(detail, code="invalid_token")

    @staticmethod
    def _from_cache(request: Request) -> tuple[None, Any] | None:
        """The warm path: a current grant in the cache answers without oauthlib or the
        database (oauthlib's request parsing alone costs about as much as a whole no-op
        view). A miss goes through DOT's validator, which checks the row and fills the cache.
        """
        scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        grant = token_cache.cached_grant(token_cache.checksum_of(raw.strip()))
        return (None, grant.as_access_token()) if grant is not None else None


class PartnerScopePermission(TokenHasScope):
    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if token is None or getattr(token, "partner", None) is None:
            return False
        if token.is_valid(self.get_scopes(request, view)):
            return True
        required = " ".join(self.get_scopes(request, view))
        raise exceptions.PermissionDenied(
            f"This token lacks a scope this operation needs: {required}.",
            code="insufficient_scope",
        )


class PartnerClientThrottle(BaseThrottle):
    """Per calling client (per address for unauthenticated routes)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        client_id = getattr(request.auth, "partner_client_id", None)
        ident = f"client:{client_id}" if client_id else f"ip:{client_address(request.META)}"
        window = ratelimit_hit(
            f"api:{ident}",
            limit=settings.API_RATE_LIMIT_PER_MINUTE,
            period=60,
            tally=api_client_tally(client_id) if client_id else None,
        )
        request._request.ratelimit = window  # type: ignore[attr-defined]
        self._wait = window.reset
        return window.allowed

    def wait(self) -> float:
        return self._wait


class PartnerAuthenticationScheme(DjangoOAuthToolkitScheme):
    """Shows the OAuth 2 client-credentials flow and each operation's scopes in the schema."""

    target_class = "partners.api.auth.PartnerAuthentication"
