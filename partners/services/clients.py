"""OAuth clients of a partner: created, rotated, narrowed and revoked by its console staff."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from ecosystem.errors import ApplicationError, ConflictError
from ecosystem.services.audit import audit_record
from partners.models import Partner, PartnerClient
from partners.scopes import IDENTITY_SCOPES, format_scopes

SECRET_BYTES = 32  # 256 bits


class ScopeNotAllowed(ApplicationError):
    code = "scope_not_allowed"
    title = "A requested scope is outside this partner's ceiling."


class PartnerInactive(ConflictError):
    code = "partner_inactive"
    title = "The partner is not active."


class ClientRevoked(ConflictError):
    code = "client_revoked"
    title = "This client was revoked."


class InvalidRedirectUri(ApplicationError):
    code = "invalid_redirect_uri"
    title = "A redirect URI is not allowed."


MAX_REDIRECT_URIS = 10


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uris_check(uris: list[str]) -> str:
    """Exact, absolute redirect URIs (RFC 9700 §2.1): https, or http to a loopback address
    (RFC 8252 §7.3) only where CONNECT_LOOPBACK_REDIRECTS allows it; no fragment, no
    wildcard, no userinfo."""
    uris = list(dict.fromkeys(uri.strip() for uri in uris if uri.strip()))
    if not uris:
        raise InvalidRedirectUri("Register at least one redirect URI.")
    if len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"At most {MAX_REDIRECT_URIS} redirect URIs.")
    for uri in uris:
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018  (raises on a malformed port)
        except ValueError:
            raise InvalidRedirectUri(f"{uri!r} is not a URL.") from None
        if not parts.hostname or parts.fragment or "*" in uri or parts.username or " " in uri:
            raise InvalidRedirectUri(
                f"{uri!r} must be an absolute URL with a host, no fragment, no wildcard and "
                "no user name."
            )
        if parts.scheme == "https":
            continue
        if parts.scheme == "http" and _loopback(parts.hostname):
            if settings.CONNECT_LOOPBACK_REDIRECTS:
                continue
            raise InvalidRedirectUri(
                f"{uri!r}: http loopback redirect URIs are for local development only; "
                "register an https URI."
            )
        raise InvalidRedirectUri(f"{uri!r} must use https.")
    return " ".join(uris)


def _checked_scopes(partner: Partner, scopes: set[str], *, connect: bool = False) -> str:
    if connect:
        scopes_in_ceiling = scopes - set(IDENTITY_SCOPES)
        if not scopes & set(IDENTITY_SCOPES) and not scopes_in_ceiling:
            raise ScopeNotAllowed("Choose at least one scope.")
        outside = scopes_in_ceiling - partner.scope_ceiling_set
        if outside:
            raise ScopeNotAllowed(f"Not within the ceiling: {', '.join(sorted(outside))}.")
        return format_scopes(scopes)
    outside = scopes - partner.scope_ceiling_set
    if outside:
        raise ScopeNotAllowed(f"Not within the ceiling: {', '.join(sorted(outside))}.")
    if not scopes:
        raise ScopeNotAllowed("Choose at least one scope.")
    return format_scopes(scopes)


def _revoke_tokens(client: PartnerClient) -> int:
    # Deleting the rows fires DOT's and the token cache's receivers: refused at once.
    deleted, _ = AccessToken.objects.filter(application_id=client.application_id).delete()
    return deleted


@transaction.atomic
def client_create(
    *, partner: Partner, name: str, scopes: set[str], actor: Any
) -> tuple[PartnerClient, str]:
    """Create a client-credentials client. The plaintext secret is returned once and only
    its hash is stored."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    if not partner.is_active:
        raise PartnerInactive("Only an active partner can create API clients.")
    client = PartnerClient(partner=partner, name=name, scopes=_checked_scopes(partner, scopes))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    client.application = Application.objects.create(
        client_id=client.id,
        client_secret=secret,
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    client.created_by = actor if getattr(actor, "pk", None) else None
    client.save()
    audit_record(
        actor=actor,
        action="client.create",
        obj=client,
        data={"partner": partner.pk, "scopes": client.scopes},
    )
    return client, secret


@transaction.atomic
def connect_client_create(
    *, partner: Partner, name: str, scopes: set[str], redirect_uris: list[str], actor: Any
) -> tuple[PartnerClient, str]:
    """Create a connect client: a confidential web client for the authorization-code grant
    with PKCE (docs/connect.md), its exact redirect URIs, RS256 ID tokens, and scopes within
    the partner's ceiling plus the identity scopes (openid, profile, email). The plaintext
    secret is returned once and only its hash is stored."""
    partner = Partner.objects.select_for_update().get(pk=partner.pk)
    if not partner.is_active:
        raise PartnerInactive("Only an active partner can create API clients.")
    client = PartnerClient(
        partner=partner, name=name, scopes=_checked_scopes(partner, scopes, connect=True)
    )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    client.application = Application.objects.create(
        client_id=client.id,
        client_secret=secret,
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uris_check(redirect_uris),
        post_logout_redirect_uris=redirect_uris_check(redirect_uris),
        algorithm=Application.RS256_ALGORITHM,
    )
    client.created_by = actor if getattr(actor, "pk", None) else None
    client.save()
    audit_record(
        actor=actor,
        action="client.create",
        obj=client,
        data={"partner": partner.pk, "scopes": client.scopes, "grant": "authorization_code"},
    )
    return client, secret


@transaction.atomic
def client_set_redirect_uris(
    *, client: PartnerClient, redirect_uris: list[str], actor: Any
) -> PartnerClient:
    """Replace a connect client's redirect URIs (exact match from the next request on)."""
    client = _locked_live(client)
    application = client.application
    if application.authorization_grant_type != Application.GRANT_AUTHORIZATION_CODE:
        raise InvalidRedirectUri("Only connect clients have redirect URIs.")
    application.redirect_uris = redirect_uris_check(redirect_uris)
    application.post_logout_redirect_uris = application.redirect_uris
    application.save(update_fields=["redirect_uris", "post_logout_redirect_uris", "updated"])
    audit_record(
        actor=actor,
        action="client.set_redirect_uris",
        obj=client,
        data={"redirect_uris": application.redirect_uris},
    )
    return client


def _locked_live(client: PartnerClient) -> PartnerClient:
    client = PartnerClient.objects.select_for_update().select_related("partner").get(pk=client.pk)
    if client.is_revoked:
        raise ClientRevoked("A revoked client cannot be changed.")
    return client


@transaction.atomic
def client_rotate_secret(*, client: PartnerClient, actor: Any) -> str:
    """A new secret; the old one stops authenticating, tokens already issued keep working."""
    client = _locked_live(client)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    application = client.application
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    client.secret_rotated_at = timezone.now()
    client.save(update_fields=["secret_rotated_at"])
    audit_record(actor=actor, action="client.rotate_secret", obj=client)
    return secret


@transaction.atomic
def client_set_scopes(*, client: PartnerClient, scopes: set[str], actor: Any) -> PartnerClient:
    """Change a client's scopes; narrowing revokes its live tokens at once."""
    client = _locked_live(client)
    before = client.scope_set
    connect = client.application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    client.scopes = _checked_scopes(client.partner, scopes, connect=connect)
    client.save(update_fields=["scopes"])
    revoked = _revoke_tokens(client) if before - scopes else 0
    audit_record(
        actor=actor,
        action="client.set_scopes",
        obj=client,
        data={"scopes": client.scopes, "tokens_revoked": revoked},
    )
    return client


@transaction.atomic
def client_revoke(*, client: PartnerClient, actor: Any) -> None:
    """Revoke a client: its tokens stop working at once and it gets no new ones."""
    client = _locked_live(client)
    client.revoked_at = timezone.now()
    client.save(update_fields=["revoked_at"])
    revoked = _revoke_tokens(client)
    audit_record(actor=actor, action="client.revoke", obj=client, data={"tokens_revoked": revoked})


@transaction.atomic
def partner_tokens_revoke(*, partner: Partner) -> int:
    """Revoke every live token of every client of ``partner``."""
    deleted, _ = AccessToken.objects.filter(application__partner_client__partner=partner).delete()
    return deleted
