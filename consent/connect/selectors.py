"""Readers of the connect flow: the apps a customer has connected, as the portal shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from consent.connect.models import ConnectAuthorization
from consent.models import Consent
from partners.models import Partner, PartnerClient
from partners.scopes import IDENTITY_SCOPES, SCOPES, parse_scopes


@dataclass
class ConnectedApp:
    """One connect client the customer approved and has not disconnected: its brand, what
    its tokens may do, and the consents they are bound to that are still active."""

    client: PartnerClient
    partner: Partner
    connected_at: object
    abilities: list[str] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)


def connected_apps(customer_id: str) -> list[ConnectedApp]:
    """Approved, not disconnected, with at least one of their consents still active: two
    queries whatever the number of apps."""
    now = timezone.now()
    authorizations = (
        ConnectAuthorization.objects.filter(
            customer_id=customer_id,
            outcome=ConnectAuthorization.Outcome.APPROVED,
            disconnected_at__isnull=True,
        )
        .select_related("client__partner")
        .prefetch_related("consents")
        .order_by("-created_at", "id")
    )
    apps: dict[str, ConnectedApp] = {}
    for authorization in authorizations:
        live = [
            c
            for c in authorization.consents.all()
            if c.status == Consent.Status.ACTIVE and c.expires_at > now
        ]
        if not live:
            continue
        app = apps.get(authorization.client_id)
        if app is None:
            client = authorization.client
            app = apps[client.pk] = ConnectedApp(
                client=client, partner=client.partner, connected_at=authorization.created_at
            )
        scopes = parse_scopes(authorization.scope)
        words = {**SCOPES, **IDENTITY_SCOPES}
        for scope in scopes:
            if scope in words and words[scope] not in app.abilities:
                app.abilities.append(words[scope])
        app.consents += [c for c in live if c not in app.consents]
    return list(apps.values())


def connected_app_of(customer_id: str, client_id: str) -> ConnectedApp | None:
    """The customer's connected app by client id; None for anyone else's or none."""
    return next((a for a in connected_apps(customer_id) if a.client.pk == client_id), None)
