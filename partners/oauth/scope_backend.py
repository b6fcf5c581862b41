"""DOT scopes backend: a client's available and default scopes are its own set."""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import Application
from oauth2_provider.scopes import BaseScopes

from partners.scopes import IDENTITY_SCOPES, SCOPES, share_scope


class PartnerClientScopes(BaseScopes):
    """DOT's default backend hands a token request that names no scope *every* scope. Here a
    client gets at most its own scopes, within its partner's ceiling, and by default exactly
    those."""

    def get_all_scopes(self) -> dict[str, str]:
        return {**SCOPES, **IDENTITY_SCOPES}

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        client = getattr(application, "partner_client", None) if application else None
        if client is None:
            return []
        allowed = client.scope_set & client.partner.scope_ceiling_set
        available = [scope for scope in SCOPES if scope in allowed]
        if application.authorization_grant_type != Application.GRANT_AUTHORIZATION_CODE:
            return available
        # A connect client: its identity scopes, and any well-formed share scope the request
        # names (the consent screen checks those against the partnerships, in front of the
        # customer, rather than failing them here as unknown).
        available += [scope for scope in IDENTITY_SCOPES if scope in client.scope_set]
        requested = getattr(request, "scopes", None) or []
        return available + [scope for scope in requested if share_scope(scope)]

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        available = self.get_available_scopes(application, request)
        return [scope for scope in available if not share_scope(scope)]
