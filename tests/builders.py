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
        "address": f"{n} Market Street, 1000 Brussels, Belgium",
        "phone": f"+32 2 555 {n:04d}",
        "privacy_notice_url": f"https://brand{n}.example/privacy",
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


def make_api(partner: Partner | None = None, *, scopes: str | None = None) -> APIClient:
    """An API client calling as a new client of ``partner`` (a fresh partner if None) with a
    real token: ``.partner``, ``.partner_client``, ``.client_id`` and ``.token`` say who."""
    client = make_client(partner)
    token, raw = make_token(client, scopes=scopes)
    api = api_client_for(raw)
    api.partner, api.partner_client, api.client_id, api.token = (
        client.partner,
        client,
        client.pk,
        token,
    )
    return api


def make_customer(*, email: str | None = None, name: str = "Test Customer", password=None):
    """A customer through the service (it seals the PII under a fresh data key)."""
    from consent.services.customers import customer_create

    n = next(_counter)
    customer = customer_create(
        email=email or f"customer{n}@mail.example", name=name, phone="", actor=None
    )
    if password:
        customer.user.set_password(password)
        customer.user.save(update_fields=["password"])
    return customer


def make_link(customer, partner: Partner, *, status: str = "active", **fields: Any):
    from consent.models import PartnerLink

    now = timezone.now()
    return PartnerLink.objects.create(
        customer=customer,
        partner=partner,
        external_ref=fields.pop("external_ref", f"ref-{next(_counter)}"),
        status=status,
        invited_at=fields.pop("invited_at", now),
        confirmed_at=now if status == "active" else None,
        **fields,
    )


def make_partnership(
    source: Partner,
    recipient: Partner,
    *,
    purpose: str = "rewards",
    categories: tuple[str, ...] = ("activity.visits", "activity.purchases"),
    **fields: Any,
):
    """An active partnership with one flow source → recipient."""
    from partners.models import Partnership, PartnershipFlow

    a, b = sorted([source, recipient], key=lambda p: p.pk)
    partnership = Partnership.objects.create(
        partner_a=a,
        partner_b=b,
        status=fields.pop("status", Partnership.Status.ACTIVE),
        valid_from=fields.pop("valid_from", timezone.now() - timedelta(days=1)),
        **fields,
    )
    flow = PartnershipFlow.objects.create(
        partnership=partnership, source=source, recipient=recipient, purpose_id=purpose
    )
    flow.data_categories.set(categories)
    return partnership


def make_consent(
    customer,
    source: Partner,
    recipient: Partner | None = None,
    *,
    purpose: str = "rewards",
    categories: tuple[str, ...] = ("activity.visits",),
    partnership=None,
    status: str = "active",
    **fields: Any,
):
    """A consent row written directly (no events, no webhooks)."""
    from consent.models import Consent, Notice

    recipient = recipient or source
    notice = Notice.objects.filter(purpose_id=purpose, partnership=None).order_by("-version")[0]
    now = timezone.now()
    granted = status not in {"requested", "refused", "lapsed"}
    return Consent.objects.create(
        customer=customer,
        purpose_id=purpose,
        source=source,
        recipient=recipient,
        data_categories=sorted(categories),
        status=status,
        partnership=partnership,
        partnership_version=partnership.version if partnership else None,
        notice=notice,
        notice_version=notice.version,
        notice_language=notice.language,
        notice_sha256=notice.text_sha256,
        granted_at=fields.pop("granted_at", now if granted else None),
        expires_at=fields.pop("expires_at", now + timedelta(days=180) if granted else None),
        **fields,
    )
