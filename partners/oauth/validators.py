"""The gateway's OAuth2Validator: DOT's extension point for every token decision."""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import Application
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from partners.oauth import token_cache

# One grant type per client, as DOT models it: what each kind may ask /o/token/ for.
TOKEN_GRANT_TYPES = {
    Application.GRANT_CLIENT_CREDENTIALS: {"client_credentials"},
    Application.GRANT_AUTHORIZATION_CODE: {"authorization_code", "refresh_token"},
}


def client_is_usable(application: Any) -> bool:
    """A client may get and use tokens only while it is not revoked and its partner is active."""
    client = getattr(application, "partner_client", None)
    return bool(client and not client.is_revoked and client.partner.is_active)


class PartnerInactive(OAuth2Error):
    """RFC 6749 §5.2 error response with the gateway's documented code: the credentials are
    right, but the partner is suspended (docs/partner-quickstart.md)."""

    error = "partner_inactive"
    status_code = 400
    description = "This partner is not active (suspended): no token is issued."


class PartnerOAuth2Validator(OAuth2Validator):
    def _load_application(self, client_id: str, request: Any) -> Any:
        # Refused before the secret is checked: a revoked client (or no partner client) gets
        # `invalid_client`, and no new token. No client id holds a NUL byte, and PostgreSQL
        # refuses one in a query (psycopg's DataError, which DOT does not catch).
        if client_id and "\x00" in client_id:
            request.client = None
            return None
        application = super()._load_application(client_id, request)
        client = getattr(application, "partner_client", None)
        if application is None or client is None or client.is_revoked:
            request.client = None
            return None
        return application

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # Only after the secret was checked: a suspended partner's valid client hears why it
        # gets no token, instead of an `invalid_client` that reads as bad credentials.
        if not client_is_usable(client):
            raise PartnerInactive(request=request)
        allowed = TOKEN_GRANT_TYPES.get(client.authorization_grant_type, set())
        return grant_type in allowed and super().validate_grant_type(
            client_id, grant_type, client, request, *args, **kwargs
        )

    def _load_access_token(self, token: str) -> Any:
        # Served from the grant cache when warm (no query); the token carries `partner` and
        # `partner_client_id`, and is returned even when its partner is inactive so the API
        # can say why it refuses it.
        return token_cache.load_token(token)
