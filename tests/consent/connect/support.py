"""Builders for the connect-flow tests: a connect client through the partner service, PKCE
pairs, and the authorize request a partner's website would send."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from partners.models import Partner, PartnerClient
from partners.services.clients import connect_client_create

REDIRECT = "https://gym.example/callback"
LOOPBACK = "http://127.0.0.1:8765/callback"


def make_connect_client(
    partner: Partner,
    *,
    scopes: set[str] | None = None,
    redirect_uris: list[str] | None = None,
) -> PartnerClient:
    client, secret = connect_client_create(
        partner=partner,
        name="Website sign-in",
        scopes=scopes or {"openid", "profile", "email", "partner:read", "consent:read"},
        redirect_uris=redirect_uris or [REDIRECT],
        actor=None,
    )
    client.secret = secret  # type: ignore[attr-defined]
    return client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class AuthorizeRequest:
    client: PartnerClient
    scope: str = "openid email profile"
    redirect_uri: str = REDIRECT
    state: str | None = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    method: str | None = "S256"
    verifier: str = ""
    challenge: str | None = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.challenge == "":
            self.verifier, self.challenge = pkce()

    @property
    def url(self) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client.application.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "nonce": self.nonce,
        }
        if self.state is not None:
            params["state"] = self.state
        if self.challenge is not None:
            params["code_challenge"] = self.challenge
        if self.method is not None:
            params["code_challenge_method"] = self.method
        params.update(self.extra)
        return f"/o/authorize/?{urlencode(params)}"


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token_request(client, client_app: PartnerClient, **data: str):
    """POST /o/token/ with HTTP Basic client authentication."""
    basic = base64.b64encode(f"{client_app.pk}:{client_app.secret}".encode()).decode()
    return client.post("/o/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
