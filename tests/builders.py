"""Plain builder functions for tests: ``make_x(**overrides)`` returns a saved row.

Builders write rows directly (no services) so a test sets up exactly the state it needs;
tests of the services themselves call the services.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, set_token_value
from rest_framework.test import APIClient

from ecosystem.models import User
from partners.models import Partner, PartnerClient, PartnerStaff
from partners.scopes import SCOPES, format_scopes

_counter = itertools.count(1)
ALL_SCOPES = format_scopes(list(SCOPES))


def make_partner(**overrides: Any) -> Partner:
    n = next(_counter)
    fields: dict[str, Any] = {
        "slug": f"brand-{n}",
        "name": f"Brand {n}",
        "sector": Partner.Sector.OTHER,
        "status": Partner.Status.ACTIVE,
        "contact_name": f"Contact {n}",
        "contact_email": f"contact{n}@brand{n}.example",
        "scope_ceiling": ALL_SCOPES,
    }
    fields.update(overrides)
    if fields["status"] == Partner.Status.ACTIVE:
        fields.setdefault("approved_at", timezone.now())
    return Partner.objects.create(**fields)


def make_client(partner: Partner | None = None, **overrides: Any) -> PartnerClient:
    """A client-credentials client; its plaintext secret is on ``client.secret``."""
    partner = partner or make_partner()
    secret = overrides.pop("secret", secrets.token_urlsafe(32))
    client = PartnerClient(partner=partner, name=overrides.pop("name", "Test client"))
    client.scopes = overrides.pop("scopes", partner.scope_ceiling)
    client.application = Application.objects.create(
        client_id=client.id,
        client_secret=secret,
        name=client.name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    for name, value in overrides.items():
        setattr(client, name, value)
    client.save()
    client.secret = secret  # type: ignore[attr-defined]
    return client


def make_token(
    client: PartnerClient | None = None, *, scopes: str | None = None, expires_in: int = 600
) -> tuple[AccessToken, str]:
    """An access token written directly (no token endpoint, no secret hashing)."""
    client = client or make_client()
    raw = secrets.token_urlsafe(30)
    token = AccessToken(
        application=client.application,
        scope=client.scopes if scopes is None else scopes,
        expires=timezone.now() + timedelta(seconds=expires_in),
    )
    set_token_value(token, raw)
    token.save()
    return token, raw


def make_staff(partner: Partner, *, password: str = "console-pass-123", **overrides: Any) -> User:
    user = User.objects.create_user(
        overrides.pop("username", f"staff-{next(_counter)}"),
        password,
        kind=User.Kind.PARTNER_STAFF,
        **overrides,
    )
    PartnerStaff.objects.create(user=user, partner=partner)
    return user


def make_admin(*, password: str = "admin-pass-1234") -> User:
    return User.objects.create_superuser(f"admin-{next(_counter)}", password)


def api_client_for(raw_token: str | None = None) -> APIClient:
    client = APIClient()
    if raw_token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client
