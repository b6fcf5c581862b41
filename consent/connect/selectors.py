"""Readers of the connect flow: the apps a customer has connected, as the portal shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from consent.connect.models import ConnectAuthorization
from consent.models import Consent
from consent.selectors import consents_in_force
from partners.models import Partner, PartnerClient
from partners.scopes import parse_scopes

# The OpenID claims the gateway can release: the scope that asks for each, the data category
# the customer's link consent to the partner must cover (UserInfo and the ID token apply
# this rule in validators.py, the portal shows it), and the claim in the customer's words.
CLAIM_WORDS = {"email": "your email address", "name": "your name"}
CLAIM_SCOPES = {"email": "email", "name": "profile"}
CLAIM_CATEGORIES = {"email": "contact.email", "name": "contact.name"}


@dataclass
class ConnectedApp:
    """One connect client the customer approved and has not disconnected: its brand,
    whether it signs them in, the claims it actually receives (asked for by its scopes and
    covered by the link consent: what UserInfo releases), and the consents its tokens are
    bound to that are still active."""

    client: PartnerClient
    partner: Partner
    connected_at: object
    signs_in: bool = False
    released: list[str] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    scopes: set[str] = field(default_factory=set)


def _released(app: ConnectedApp) -> list[str]:
    link = next(
        (c for c in app.consents if c.purpose_id == "link" and c.recipient_id == app.partner.pk),
        None,
    )
    covered = set(link.data_categories) if link is not None else set()
    return [
        words
        for claim, words in CLAIM_WORDS.items()
        if CLAIM_SCOPES[claim] in app.scopes and CLAIM_CATEGORIES[claim] in covered
    ]


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
        app.scopes |= set(parse_scopes(authorization.scope))
        app.consents += [c for c in live if c not in app.consents]
    for app in apps.values():
        app.signs_in = "openid" in app.scopes
        app.released = _released(app)
    return list(apps.values())


def connected_app_of(customer_id: str, client_id: str) -> ConnectedApp | None:
    """The customer's connected app by client id; None for anyone else's or none."""
    return next((a for a in connected_apps(customer_id) if a.client.pk == client_id), None)


def connect_silent_choice(
    *, customer_id: str, client_id: str, plan: list, scopes: list[str]
) -> dict[str, list[str]] | None:
    """For ``prompt=none``: the categories to approve each ask of ``plan`` with, without
    showing the screen, or None (``consent_required``). Only when the customer already
    answered this client's screen for these scopes or more (an approval not disconnected)
    and every consent that approval holds is still active, unexpired and in force, and
    covers each ask's flow: then the customer's earlier choice (what they left ticked)
    stands. A scope they were never asked about needs the screen."""
    now = timezone.now()
    wanted = set(scopes)
    approvals = (
        ConnectAuthorization.objects.filter(
            customer_id=customer_id,
            client_id=client_id,
            outcome=ConnectAuthorization.Outcome.APPROVED,
            disconnected_at__isnull=True,
        )
        .prefetch_related("consents")
        .order_by("-created_at", "id")
    )
    for approval in approvals:
        if not wanted <= set(parse_scopes(approval.scope)):
            continue
        consents = list(approval.consents.all())
        if not consents or set(consents_in_force(consents, at=now)) != {c.pk for c in consents}:
            continue
        by_flow = {(c.purpose_id, c.source_id, c.recipient_id): c for c in consents}
        chosen = {}
        for ask in plan:
            consent = by_flow.get((ask.purpose.pk, ask.source.pk, ask.recipient.pk))
            if consent is None or consent.method != Consent.Method.CONNECT:
                break
            chosen[ask.key] = list(consent.data_categories)
        else:
            return chosen
    return None
