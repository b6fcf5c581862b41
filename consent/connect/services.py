"""The connect flow's rules: what a connect request asks the customer, approving or refusing
it through the consent services, disconnecting, and ending the tokens bound to a consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from consent.connect.models import ConnectAuthorization
from consent.models import Consent, Customer, Notice
from consent.selectors import consents_hold, consents_in_force, consents_live, flow_allowance
from consent.services.consents import (
    consent_amend,
    consent_grant,
    consent_request_approve,
    consent_withdraw,
    notice_for,
    notice_shown,
)
from consent.services.links import customer_link_connect
from consent.services.notices import notice_hash
from ecosystem.errors import ApplicationError
from ecosystem.services.audit import audit_record
from partners.models import Partner, PartnerClient, Purpose
from partners.oauth.token_cache import checksum_of
from partners.scopes import IDENTITY_CATEGORIES, share_scope

S = Consent.Status


class ConnectFlowNotAllowed(ApplicationError):
    """The connect request asks for a consent no partnership allows: shown to the customer,
    never silently dropped."""

    code = "flow_not_allowed"
    title = "This app asks for something the ecosystem does not allow."


@dataclass(frozen=True)
class Ask:
    """One consent the connect screen asks for: the flow, the categories the customer may
    tick (all ticked at first), and the notice they are shown."""

    purpose: Purpose
    source: Partner
    recipient: Partner
    categories: tuple[str, ...]
    notice: Notice
    notice_text: str

    @property
    def notice_sha256(self) -> str:
        return notice_hash(self.notice_text)

    @property
    def key(self) -> str:
        return f"{self.purpose.pk}:{self.recipient.pk}"


def _ask(
    purpose: Purpose, source: Partner, recipient: Partner, wanted: list[str] | None, at: datetime
) -> Ask:
    allowance = flow_allowance(
        source_id=source.pk, recipient_id=recipient.pk, purpose=purpose, at=at
    )
    if allowance is None:
        raise ConnectFlowNotAllowed(
            f"{source.name} asked you to let it share data with {recipient.name} for "
            f"{purpose.name.lower()}, but no partnership in the ecosystem allows that."
        )
    partnership, allowed = allowance
    categories = sorted(allowed if wanted is None else set(wanted))
    outside = set(categories) - allowed
    if outside:
        raise ConnectFlowNotAllowed(
            f"{source.name} asked for {', '.join(sorted(outside))}, which the ecosystem does "
            f"not let {recipient.name} receive for {purpose.name.lower()}."
        )
    notice = notice_for(purpose, partnership, "en")
    text = notice_shown(notice, source.pk, recipient.pk)
    return Ask(purpose, source, recipient, tuple(categories), notice, text)


def connect_plan(*, client: PartnerClient, scopes: list[str]) -> list[Ask]:
    """What approving this connect request means, in order: the link to the client's partner
    (carrying the contact details the identity scopes ask for), then one consent per share
    scope. ``ConnectFlowNotAllowed`` when a share scope names a purpose, partner or flow the
    ecosystem does not allow."""
    partner, now = client.partner, timezone.now()
    purposes = {p.pk: p for p in Purpose.objects.all()}
    identity = [IDENTITY_CATEGORIES[s] for s in scopes if s in IDENTITY_CATEGORIES]
    plan = [_ask(purposes["link"], partner, partner, identity, now)]
    for scope in scopes:
        parsed = share_scope(scope)
        if parsed is None:
            continue
        code, slug = parsed
        purpose = purposes.get(code)
        recipient = Partner.objects.filter(slug=slug, status=Partner.Status.ACTIVE).first()
        if purpose is None or recipient is None or purpose.single_partner:
            raise ConnectFlowNotAllowed(
                f"{partner.name} asked for {scope!r}, which names no purpose and partner "
                "you can consent to here."
            )
        plan.append(_ask(purpose, partner, recipient, None, now))
    return plan


def _consent_for(customer: Customer, ask: Ask, chosen: list[str]) -> Consent:
    """The consent for one ask, always one given on this screen (method connect, which is
    what lets a consent's ending look for bound tokens at all): a request for the same flow
    is approved here, an active connect consent with the same categories is confirmed, any
    other active one is amended into a connect one, otherwise a new one is granted."""
    live = (
        consents_live(customer.pk, partner_id=ask.source.pk)
        .filter(purpose=ask.purpose, source=ask.source, recipient=ask.recipient)
        .first()
    )
    connect = Consent.Method.CONNECT
    if live is not None and live.status == S.REQUESTED:
        Consent.objects.filter(pk=live.pk).update(method=connect)  # answered on this screen
        return consent_request_approve(consent=live, customer=customer, data_categories=chosen)
    if live is not None and live.status == S.ACTIVE and live.expires_at > timezone.now():
        if live.method == connect and sorted(live.data_categories) == sorted(chosen):
            return live
        return consent_amend(
            consent=live, customer=customer, data_categories=chosen, method=connect
        )
    return consent_grant(
        customer=customer,
        purpose=ask.purpose,
        source_id=ask.source.pk,
        recipient_id=ask.recipient.pk,
        data_categories=chosen,
        method=Consent.Method.CONNECT,
    )


@transaction.atomic
def connect_approve(
    *,
    customer: Customer,
    client: PartnerClient,
    plan: list[Ask],
    chosen: dict[str, list[str]],
    scope: str,
) -> ConnectAuthorization:
    """The customer approves: the link is created or confirmed (method connect) and each
    consent granted or confirmed through the consent services (receipts and events
    included), all in this one transaction, which the caller extends to the authorization
    code it then issues. ``chosen`` maps each ask's key to the categories left ticked."""
    link = customer_link_connect(customer=customer, partner=client.partner)
    consents = []
    for ask in plan:
        picked = [code for code in chosen.get(ask.key, []) if code in ask.categories]
        consents.append(_consent_for(customer, ask, picked))
    authorization = ConnectAuthorization.objects.create(
        customer=customer,
        client=client,
        outcome=ConnectAuthorization.Outcome.APPROVED,
        link=link,
        scope=scope,
    )
    authorization.consents.set(consents)
    audit_record(
        actor=f"customer:{customer.pk}",
        action="connect.approve",
        obj=authorization,
        data={"client": client.pk, "consents": [c.pk for c in consents]},
    )
    return authorization


@transaction.atomic
def connect_refuse(
    *, customer: Customer, client: PartnerClient, scope: str
) -> ConnectAuthorization:
    """The customer says no: recorded, nothing created; the app hears ``access_denied``."""
    authorization = ConnectAuthorization.objects.create(
        customer=customer,
        client=client,
        outcome=ConnectAuthorization.Outcome.REFUSED,
        scope=scope,
    )
    audit_record(
        actor=f"customer:{customer.pk}",
        action="connect.refuse",
        obj=authorization,
        data={"client": client.pk},
    )
    return authorization


def connect_authorization_bind_grant(*, authorization_id: str, grant: Grant) -> None:
    """The authorization code issued for an approval carries its consents (and the approval
    keeps the code's checksum, to recognise it once DOT has deleted it)."""
    ConnectAuthorization.objects.filter(
        pk=authorization_id, outcome=ConnectAuthorization.Outcome.APPROVED
    ).update(grant=grant, code_checksum=checksum_of(grant.code))


def connect_code_exchanged(*, client_id: str, code: str) -> None:
    """The code was exchanged for tokens (DOT has just deleted it): from now on, presenting it
    again is a reuse."""
    ConnectAuthorization.objects.filter(
        client_id=client_id, code_checksum=checksum_of(code), code_exchanged_at__isnull=True
    ).update(code_exchanged_at=timezone.now())


@transaction.atomic
def connect_code_reuse_revoke(*, client_id: str, code: str) -> int:
    """An authorization code that no longer exists was presented (RFC 6749 §4.1.2, RFC 9700
    §4.2.4): the exchange is refused by the caller, and if the code was one of ours that was
    exchanged (by an earlier request, or by one racing this one), every access and refresh
    token issued from it, refreshed ones included, ends here, through DOT's models so the
    token cache drops them for the very next request. The test is the grant being gone
    (DOT's delete of the code nulls it in the same statement), not ``code_exchanged_at``,
    which a racing exchange may not have written yet. Returns how many access tokens ended."""
    authorization = ConnectAuthorization.objects.filter(
        client_id=client_id, code_checksum=checksum_of(code), grant__isnull=True
    ).first()
    if authorization is None or not authorization.tokens.exists():
        return 0  # unknown, or expired unexchanged: nothing was issued from it
    RefreshToken.objects.filter(connect__authorization=authorization, revoked__isnull=True).update(
        revoked=timezone.now()
    )
    ended, _ = AccessToken.objects.filter(connect__authorization=authorization).delete()
    audit_record(
        actor=f"client:{client_id}",
        action="connect.code_reuse",
        obj=authorization,
        data={"access_tokens_ended": ended},
    )
    return ended


def _consents_of(authorization: ConnectAuthorization) -> list[Consent]:
    return list(
        authorization.consents.select_related("source", "recipient", "partnership").order_by("pk")
    )


def connect_authorization_holds(authorization: ConnectAuthorization, *, at: datetime) -> bool:
    """May the app still act under this approval: every one of its consents active, unexpired
    and in force (the consent check's rule, ``consents_in_force``). Read only."""
    consents = _consents_of(authorization)
    return bool(consents) and set(consents_in_force(consents, at=at)) == {c.pk for c in consents}


def connect_consents_hold(authorization: ConnectAuthorization, *, at: datetime) -> datetime:
    """Share-lock the approval's consents for the token being issued (docs/consent.md: a
    token from the connect flow is a write under its consents) and return the shortest
    expiry; ``ConsentEnded`` when any of them no longer holds."""
    consents = _consents_of(authorization)
    ids = {c.pk for c in consents}
    if not consents or consents_hold(ids, at=at) != ids:
        raise ConsentEnded("A consent this app was connected under has ended.")
    if set(consents_in_force(consents, at=at)) != ids:
        raise ConsentEnded("A consent this app was connected under is no longer in force.")
    return min(c.expires_at for c in consents)


class ConsentEnded(ApplicationError):
    code = "consent_ended"
    title = "A consent behind this token has ended."


def connect_tokens_revoke(*, consent: Consent) -> int:
    """End everything issued under a consent: unexchanged codes are deleted, refresh tokens
    revoked, access tokens deleted (through DOT's models, so the token cache's receivers
    invalidate them for the very next request, as client revocation does)."""
    authorizations = ConnectAuthorization.objects.filter(consents=consent)
    Grant.objects.filter(connect__in=authorizations).delete()
    RefreshToken.objects.filter(
        connect__authorization__in=authorizations, revoked__isnull=True
    ).update(revoked=timezone.now())
    deleted, _ = AccessToken.objects.filter(connect__authorization__in=authorizations).delete()
    return deleted


def connect_tokens_revoke_on_end(sender: Any, *, consent: Consent, **kwargs: Any) -> None:
    """consent_ended receiver: runs inside the transaction that ended the consent. Only a
    consent given on a connect screen has tokens bound to it (``_consent_for``), so the
    others cost the sweeps no query."""
    if consent.method == Consent.Method.CONNECT:
        connect_tokens_revoke(consent=consent)


@transaction.atomic
def connect_disconnect(*, customer: Customer, client_id: str) -> int:
    """ "Disconnect" in the portal: every active consent approved on this client's connect
    screen is withdrawn (which revokes its tokens); returns how many."""
    authorizations = ConnectAuthorization.objects.filter(
        customer=customer, client_id=client_id, outcome=ConnectAuthorization.Outcome.APPROVED
    )
    consents = Consent.objects.filter(
        connect_authorizations__in=authorizations, status=S.ACTIVE
    ).distinct()
    withdrawn = 0
    for consent in consents.order_by("pk"):
        if consent.expires_at > timezone.now():
            consent_withdraw(consent=consent, customer=customer, reason="Disconnected the app.")
            withdrawn += 1
    authorizations.filter(disconnected_at__isnull=True).update(disconnected_at=timezone.now())
    audit_record(
        actor=f"customer:{customer.pk}",
        action="connect.disconnect",
        obj=customer,
        data={"client": client_id, "withdrawn": withdrawn},
    )
    return withdrawn
