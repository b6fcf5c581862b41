"""DOT scopes backend: a client's available and default scopes are its own set."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from partners.scopes import SCOPES


class PartnerClientScopes(BaseScopes):
    """DOT's default backend hands a token request that names no scope *every* scope. Here a
    client gets at most its own scopes, within its partner's ceiling, and by default exactly
    those."""

    def get_all_scopes(self) -> dict[str, str]:
        return dict(SCOPES)

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        client = getattr(application, "partner_client", None) if application else None
        if client is None:
            return []
        allowed = client.scope_set & client.partner.scope_ceiling_set
        return [scope for scope in SCOPES if scope in allowed]

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return self.get_available_scopes(application, request)
