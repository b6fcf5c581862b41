"""Referral services: send, answer, convert, withdraw, expire — each by the right party, each
checked against the customer's consent, each told to the partners entitled to know."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from consent.models import Consent, Customer, CustomerKey, PartnerLink
from consent.selectors import consent_allowance, flow_allowance, link_of_partner, pairwise_ids
from consent.services.access import access_record_api
from ecosystem import transitions
from ecosystem.errors import (
    ApplicationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
)
from ecosystem.services.audit import audit_record
from exchanges.referrals.models import Referral
from exchanges.referrals.selectors import CreateFacts, referral_create_facts
from exchanges.rewards.services import rewards_for_conversion
from partners.models import Partner, Purpose
from partners.webhooks.events import event_publish
from partners.webhooks.models import WebhookEndpoint

R = Referral.Status
L = PartnerLink.Status
CONSENT_REQUESTS_PATH = "/api/v1/consent-requests"


class ReferralTransitionError(ConflictError):
    code = "invalid_transition"
    title = "The referral is not in a state that allows this."


def _pairwise_of(referrals: list[Referral]) -> dict[tuple[str, str], str]:
    """Both parties' ids for a batch of referrals, in one query: (customer, partner) → id."""
    links = PartnerLink.objects.filter(
        customer_id__in={r.customer_id for r in referrals},
        partner_id__in={p for r in referrals for p in (r.from_partner_id, r.to_partner_id)},
        status=L.ACTIVE,
    ).values_list("customer_id", "partner_id", "id")
    return {(customer_id, partner_id): link_id for customer_id, partner_id, link_id in links}


def _payload(referral: Referral, customer_id: str) -> dict[str, Any]:
    return {
        "referral_id": referral.pk,
        "customer_id": customer_id,
        "from_partner": referral.from_partner_id,
        "to_partner": referral.to_partner_id,
        "status": referral.status,
        "reason": referral.reason,
    }


def _tell(
    referral: Referral,
    event_type: str,
    partner_ids: set[str],
    *,
    pairwise: dict[str, str] | None = None,
) -> None:
    """Each partner hears under its own pairwise id; payloads carry no customer data."""
    if pairwise is None:
        pairwise = pairwise_ids(customer_id=referral.customer_id, partner_ids=partner_ids)
    if pairwise:
        event_publish(
            type=event_type,
            payloads={pid: _payload(referral, cid) for pid, cid in pairwise.items()},
        )


def _recipient_link(
    customer: Customer, partner: Partner, consent: Consent, *, sender_ref: str
) -> PartnerLink:
    """The referral consent counts as the customer's confirmation of a link to B: create or
    confirm B's own link (B never learns A's id). A link the customer refused or ended after
    giving that consent stays as it is: their later word wins, so they are asked again."""
    locked = PartnerLink.objects.select_for_update(no_key=True)
    link = locked.filter(customer=customer, partner=partner).first()
    now = timezone.now()
    if link is None:
        # Two first referrals of this customer to B race here. Insert-or-nothing (ON CONFLICT
        # DO NOTHING; INSERT OR IGNORE on SQLite) waits for the other insert to commit instead
        # of failing on link_one_per_pair, and needs no savepoint; then read the row back,
        # whoever wrote it (a new statement: it sees the other's committed row).
        PartnerLink.objects.bulk_create(
            [
                PartnerLink(
                    customer=customer,
                    partner=partner,
                    status=L.ACTIVE,
                    method=PartnerLink.Method.REFERRAL,
                    confirmed_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        link = locked.get(customer=customer, partner=partner)
    if _said_no_since(link, consent):
        _consent_required(
            customer_ref=sender_ref,
            source_id=consent.source_id,
            recipient_id=partner.pk,
            now=now,
            why="The customer declined a link with this partner after consenting to this.",
        )
    if link.status != L.ACTIVE:
        link.status, link.confirmed_at, link.ended_at = L.ACTIVE, now, None
        link.save(update_fields=["status", "confirmed_at", "ended_at"])
    return link


def _said_no_since(link: PartnerLink, consent: Consent) -> bool:
    if link.status not in (L.REFUSED, L.ENDED) or consent.granted_at is None:
        return False
    return consent.granted_at <= (link.ended_at or link.created_at)


def _check_rate(partner_id: str, customer_id: str) -> None:
    since = timezone.now() - timedelta(hours=settings.REFERRAL_LIMIT_WINDOW_HOURS)
    sent = Referral.objects.filter(
        from_partner_id=partner_id, customer_id=customer_id, created_at__gte=since
    ).count()
    if sent >= settings.REFERRAL_LIMIT_PER_CUSTOMER:
        _rate_limited()


def _rate_limited() -> NoReturn:
    raise RateLimitedError(
        f"You may refer one customer {settings.REFERRAL_LIMIT_PER_CUSTOMER} times per "
        f"{settings.REFERRAL_LIMIT_WINDOW_HOURS} hours.",
        code="referral_limit_reached",
        extra={"retry_after": settings.REFERRAL_LIMIT_WINDOW_HOURS * 3600},
    )


class LinkPending(ConflictError):
    code = "link_pending"
    title = "The customer has not confirmed this link yet."

    def __init__(self) -> None:
        super().__init__(
            "This customer id is yours, but the customer has not confirmed the link yet (it "
            "is pending their answer to your invitation). Refer them once "
            "GET /api/v1/customer-links/{id} says active, or on customer.link_confirmed."
        )


@transaction.atomic
def referral_create(
    *, from_partner_id: str, client_id: str, customer_id: str, to_partner_id: str, note: str = ""
) -> Referral:
    """A refers the customer it knows as ``customer_id`` to B. Allowed only under an active
    partnership flow A→B for ``referral`` and an active ``referral`` consent A→B; the data
    B will see is snapshotted now, limited to the categories the consent allows.

    On PostgreSQL one statement reads (and locks) everything the rules need
    (``referral_create_facts``); when the facts allow the referral it is written from them,
    and otherwise, or on SQLite, the step-by-step ORM path below decides and explains the
    refusal (it reads the same rows again, so its answer is the same)."""
    now = timezone.now()
    if connection.vendor == "postgresql" and to_partner_id != from_partner_id:
        facts = referral_create_facts(
            from_partner_id=from_partner_id,
            customer_id=customer_id,
            to_partner_id=to_partner_id,
            at=now,
            since=now - timedelta(hours=settings.REFERRAL_LIMIT_WINDOW_HOURS),
        )
        if facts is not None:
            referral = _create_from_facts(
                facts,
                from_partner_id=from_partner_id,
                client_id=client_id,
                customer_ref=customer_id,
                to_partner_id=to_partner_id,
                note=note,
                now=now,
            )
            if referral is not None:
                return referral
    return _create_checked(
        from_partner_id=from_partner_id,
        client_id=client_id,
        customer_id=customer_id,
        to_partner_id=to_partner_id,
        note=note,
        now=now,
    )


def _create_from_facts(
    facts: CreateFacts,
    *,
    from_partner_id: str,
    client_id: str,
    customer_ref: str,
    to_partner_id: str,
    note: str,
    now: datetime,
) -> Referral | None:
    """The referral, written from one read's facts; None when the rules need the ORM path
    (a refusal to explain, or B's link in a state only ``_recipient_link`` handles)."""
    allowed = set(facts.consent_categories) & facts.flow_categories
    if (
        facts.link_status != L.ACTIVE
        or facts.consent_id is None
        or facts.wrapped_key is None
        or not facts.partners_active
        or not facts.partnership_current
        or not allowed
        or (facts.recipient_link is not None and facts.recipient_link[1] != L.ACTIVE)
    ):
        return None
    customer = Customer(
        id=facts.customer_id,
        name_sealed=facts.sealed["name"],
        email_sealed=facts.sealed["email"],
        phone_sealed=facts.sealed["phone"],
    )
    customer.key = CustomerKey(customer_id=customer.pk, wrapped=facts.wrapped_key)
    pii = customer.pii()
    available = {"contact.name": pii.name, "contact.email": pii.email, "contact.phone": pii.phone}
    note = note.strip()
    _check_note(note, available, allowed)
    if facts.sent_in_window >= settings.REFERRAL_LIMIT_PER_CUSTOMER:
        _rate_limited()
    if facts.recipient_link is not None:
        recipient_link_id = facts.recipient_link[0]
    else:
        recipient_link_id = _recipient_link_insert(customer.pk, to_partner_id, now)
        if recipient_link_id is None:  # created meanwhile: its state decides (ORM path)
            return None
    referral = Referral(
        from_partner_id=from_partner_id,
        to_partner_id=to_partner_id,
        partnership_id=facts.partnership_id,
        customer=customer,
        consent_id=facts.consent_id,
        created_at=now,
        expires_at=now + timedelta(hours=settings.REFERRAL_EXPIRY_HOURS),
    )
    referral.seal_snapshot(
        {code: value for code, value in available.items() if code in allowed and value},
        note=note,
        data_key=customer.data_key(),
    )
    _insert(referral)
    audit_record(actor=f"client:{client_id}", action="referral.create", obj=referral)
    subscribers = [
        WebhookEndpoint(pk=pk, partner_id=to_partner_id, event_types=types)
        for pk, types in facts.subscribers
    ]
    event_publish(
        type="referral.received",
        payloads={to_partner_id: _payload(referral, recipient_link_id)},
        subscribers=subscribers,
    )
    return referral


_LINK_INSERT = """
INSERT INTO consent_partnerlink (id, customer_id, partner_id, status, method, created_at,
                                 confirmed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (partner_id, customer_id) DO NOTHING
RETURNING id
"""


def _recipient_link_insert(customer_id: str, partner_id: str, now: datetime) -> str | None:
    """B's new link, confirmed by the referral consent; None if another transaction made
    one first (ON CONFLICT waits for it to commit, so two first referrals never fail)."""
    link_id = PartnerLink._meta.pk.get_default()
    with connection.cursor() as cursor:
        cursor.execute(
            _LINK_INSERT,
            [link_id, customer_id, partner_id, L.ACTIVE, PartnerLink.Method.REFERRAL, now, now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _insert(referral: Referral) -> None:
    try:  # no savepoint: the refusal rolls the whole transaction back
        referral.save(force_insert=True)
    except IntegrityError:
        raise ConflictError(
            "An open referral of this customer to this partner already exists.",
            code="duplicate_referral",
        ) from None


def _create_checked(
    *,
    from_partner_id: str,
    client_id: str,
    customer_id: str,
    to_partner_id: str,
    note: str,
    now: datetime,
) -> Referral:
    """The create step by step through the ORM: each rule with its own refusal."""
    link = link_of_partner(partner_id=from_partner_id, customer_id=customer_id)
    if link is not None and link.status == PartnerLink.Status.PENDING:
        raise LinkPending()
    if link is None or link.status != PartnerLink.Status.ACTIVE:
        raise NotFoundError("No customer with this id is linked to you.")
    if to_partner_id == from_partner_id:
        raise ApplicationError("A partner cannot refer a customer to itself.", code="referral_self")
    customer = link.customer
    # A write under a consent: the consent row is share-locked until this commits, so a
    # withdrawal either waits and then ends this referral, or came first and refuses it.
    found = consent_allowance(
        customer_id=customer.pk,
        source_id=from_partner_id,
        recipient_id=to_partner_id,
        purpose="referral",
        at=now,
        hold=True,
    )
    if found is None:
        _refuse(customer_id, from_partner_id, to_partner_id, now)
    consent, allowed = found
    recipient = consent.recipient  # active: the allowance checked both partners
    pii = customer.pii()
    available = {"contact.name": pii.name, "contact.email": pii.email, "contact.phone": pii.phone}
    note = note.strip()
    _check_note(note, available, allowed)
    _check_rate(from_partner_id, customer.pk)
    recipient_link = _recipient_link(customer, recipient, consent, sender_ref=customer_id)
    referral = Referral(
        from_partner_id=from_partner_id,
        to_partner=recipient,
        partnership=consent.partnership,
        customer=customer,
        consent=consent,
        created_at=now,
        expires_at=now + timedelta(hours=settings.REFERRAL_EXPIRY_HOURS),
    )
    # Data minimisation: only what the consent and the flow both allow, nothing a partner sent.
    referral.seal_snapshot(
        {code: value for code, value in available.items() if code in allowed and value},
        note=note,
        data_key=customer.data_key(),
    )
    _insert(referral)
    audit_record(actor=f"client:{client_id}", action="referral.create", obj=referral)
    _tell(
        referral, "referral.received", {to_partner_id}, pairwise={to_partner_id: recipient_link.pk}
    )
    return referral


def _check_note(note: str, available: dict[str, str], allowed: set[str]) -> None:
    """A note may not carry contact data the consent withholds: a word of the customer's
    name, their email address, or their phone number."""
    text = note.casefold()
    for code in allowed:  # what may be shared anyway does not count (an email holds a name)
        if available.get(code):
            text = text.replace(available[code].casefold(), " ")
    words = set(re.findall(r"\w+", text))
    digits = re.sub(r"\D", "", text)
    name = available["contact.name"].casefold()
    email = available["contact.email"].casefold()
    phone = re.sub(r"\D", "", available["contact.phone"])
    reveals = {
        "contact.name": any(part in words for part in re.findall(r"\w{2,}", name)),
        "contact.email": bool(email) and email in text,
        "contact.phone": len(phone) >= 7 and phone[-7:] in digits,
    }
    withheld = sorted(code for code, found in reveals.items() if found and code not in allowed)
    if withheld:
        raise ApplicationError(
            f"The note gives away {', '.join(withheld)}, which the customer has not agreed to "
            "share with this partner. Remove it and send the referral again.",
            code="note_reveals_customer_data",
        )


def _refuse(customer_id: str, source_id: str, recipient_id: str, now: datetime) -> NoReturn:
    """Say why a referral may not be sent: the recipient is unknown or inactive, no
    partnership flow allows it, or the customer has not consented (and then how to ask)."""
    recipient = Partner.objects.filter(pk=recipient_id).first()
    if recipient is None or recipient.status != Partner.Status.ACTIVE:
        raise ForbiddenError(
            "The partner you refer to does not exist or is not active.", code="recipient_inactive"
        )
    _consent_required(
        customer_ref=customer_id,
        source_id=source_id,
        recipient_id=recipient_id,
        now=now,
        why="The customer has not consented to this referral.",
    )


def _consent_required(
    *, customer_ref: str, source_id: str, recipient_id: str, now: datetime, why: str
) -> NoReturn:
    """Refuse for want of consent, with a request the sender can post as it stands; or, when
    no partnership flow allows the referral at all, say that instead."""
    allowance = flow_allowance(
        source_id=source_id,
        recipient_id=recipient_id,
        purpose=Purpose.objects.get(pk="referral"),
        at=now,
    )
    if allowance is None:
        raise ForbiddenError(
            "No active partnership lets you refer customers to this partner.",
            code="partnership_required",
        )
    names = dict(Partner.objects.filter(pk__in=[source_id, recipient_id]).values_list("pk", "name"))
    raise ForbiddenError(
        f"{why} Ask them with POST {CONSENT_REQUESTS_PATH} (purpose referral, recipient "
        f"{recipient_id}), then send the referral with a new Idempotency-Key.",
        code="consent_required",
        extra={
            "consent_request": {
                "method": "POST",
                "path": CONSENT_REQUESTS_PATH,
                "body": {
                    "customer_id": customer_ref,
                    "recipient": recipient_id,
                    "purpose": "referral",
                    "data_categories": sorted(allowance[1]),
                    "message": (
                        f"{names[source_id]} would like to introduce you to {names[recipient_id]}."
                    ),
                },
            }
        },
    )


def _locked(referral: Referral) -> Referral:
    return transitions.locked(Referral, referral.pk)


CLOSING_FIELDS = ["reason", "answered_at", "ended_at", "snapshot_sealed", "note_sealed"]


def _close(
    referral: Referral,
    *,
    to: str,
    reason: str,
    actor: Any = None,
    action: str | None = None,
    data: dict[str, Any] | None = None,
    keep_snapshot: bool = False,
    also: tuple = (),
) -> None:
    referral.reason = reason[:300]
    referral.ended_at = timezone.now()
    if not keep_snapshot:
        referral.forget_snapshot()
    transitions.transition(
        referral,
        to=to,
        error=ReferralTransitionError,
        fields=[*CLOSING_FIELDS, *also],
        actor=actor,
        action=action,
        data=data,
    )


PAST = {
    "accept": "accepted",
    "decline": "declined",
    "convert": "converted",
    "withdraw": "withdrawn",
}


def _expect(referral: Referral, partner_id: str, party: str, to: str, verb: str) -> None:
    owner = referral.to_partner_id if party == "recipient" else referral.from_partner_id
    if owner != partner_id:
        who = "the partner it was sent to" if party == "recipient" else "the partner that sent it"
        raise ForbiddenError(f"Only {who} may {verb} a referral.", code="invalid_party")
    transitions.expect(
        referral,
        to=to,
        error=ReferralTransitionError,
        detail=f"A referral that is {referral.status} cannot be {PAST[verb]}.",
    )


@transaction.atomic
def referral_accept(*, referral: Referral, partner_id: str, actor: Any) -> Referral:
    referral = _locked(referral)
    _expect(referral, partner_id, "recipient", R.ACCEPTED, "accept")
    referral.answered_at = timezone.now()
    transitions.transition(
        referral,
        to=R.ACCEPTED,
        error=ReferralTransitionError,
        fields=["answered_at"],
        actor=actor,
        action="referral.accept",
    )
    _tell(referral, "referral.accepted", {referral.from_partner_id})
    return referral


@transaction.atomic
def referral_decline(
    *, referral: Referral, partner_id: str, actor: Any, reason: str = ""
) -> Referral:
    referral = _locked(referral)
    _expect(referral, partner_id, "recipient", R.DECLINED, "decline")
    referral.answered_at = timezone.now()
    _close(referral, to=R.DECLINED, reason=reason, actor=actor, action="referral.decline")
    _tell(referral, "referral.declined", {referral.from_partner_id})
    return referral


@transaction.atomic
def referral_convert(
    *,
    referral: Referral,
    partner_id: str,
    actor: Any,
    amount: Decimal | None = None,
    currency: str = "",
) -> Referral:
    """B records that the introduction led somewhere; the partnership's referral.converted
    rules give A its fee in the same transaction (exchanges.rewards)."""
    referral = _locked(referral)
    _expect(referral, partner_id, "recipient", R.CONVERTED, "convert")
    referral.value_amount, referral.value_currency = amount, currency
    _close(
        referral,
        to=R.CONVERTED,
        reason="",
        actor=actor,
        action="referral.convert",
        keep_snapshot=True,
        also=("value_amount", "value_currency"),
    )
    _tell(referral, "referral.converted", {referral.from_partner_id})
    rewards_for_conversion(
        referral_id=referral.pk,
        partnership_id=referral.partnership_id,
        source_id=referral.from_partner_id,
        recipient_id=referral.to_partner_id,
        customer_id=referral.customer_id,
        consent_id=referral.consent_id,
        value_amount=amount,
        value_currency=currency,
    )
    return referral


@transaction.atomic
def referral_withdraw(
    *, referral: Referral, partner_id: str, actor: Any, reason: str = ""
) -> Referral:
    referral = _locked(referral)
    _expect(referral, partner_id, "sender", R.WITHDRAWN, "withdraw")
    _close(
        referral,
        to=R.WITHDRAWN,
        reason=reason or "Withdrawn by the referring partner.",
        actor=actor,
        action="referral.withdraw",
    )
    _tell(referral, "referral.withdrawn", {referral.to_partner_id})
    return referral


def referrals_end_with_consent(*, consent: Consent, status: str, reason: str) -> None:
    """The customer's consent ended: its open referrals are withdrawn, their snapshots
    deleted, and B told. Runs inside the consent service's transaction."""
    if consent.purpose_id != "referral":
        return
    open_referrals = Referral.objects.select_for_update(no_key=True).filter(
        customer_id=consent.customer_id,
        from_partner_id=consent.source_id,
        to_partner_id=consent.recipient_id,
        status__in=[R.SENT, R.ACCEPTED],
    )
    for referral in open_referrals:
        _close(
            referral,
            to=R.WITHDRAWN,
            reason=f"The customer's consent was {status}.",
            action="referral.withdraw",
            data={"consent": status},
        )
        _tell(referral, "referral.withdrawn", {referral.to_partner_id})
    # A converted referral kept its snapshot and note while the consent lasted; they go now.
    Referral.objects.filter(
        customer_id=consent.customer_id,
        from_partner_id=consent.source_id,
        to_partner_id=consent.recipient_id,
        status=R.CONVERTED,
    ).update(snapshot_sealed="", note_sealed="")


def referrals_expire(*, batch_size: int = 500) -> int:
    """Referrals nobody answered in time expire; both partners are told (beat)."""

    def expire(batch: list[Referral]) -> None:
        known = _pairwise_of(batch)
        for referral in batch:
            _close(referral, to=R.EXPIRED, reason="Not answered in time.")
            parties = (referral.from_partner_id, referral.to_partner_id)
            pairwise = {
                pid: known[referral.customer_id, pid]
                for pid in parties
                if (referral.customer_id, pid) in known
            }
            _tell(referral, "referral.expired", set(parties), pairwise=pairwise)

    due = Referral.objects.filter(status=R.SENT, expires_at__lte=timezone.now())
    return transitions.sweep(due, expire, order=("expires_at",), batch_size=batch_size)


@dataclass(frozen=True)
class Disclosed:
    """What one partner may read of a referral's customer data now (None: nothing)."""

    data: dict[str, str] | None = None
    note: str | None = None


def referral_disclosed_to(*, referral: Referral, partner_id: str, client_id: str) -> Disclosed:
    """For B, the consented data and A's note while the data may flow, recording the read;
    for A, its own note back. Nothing once the referral is closed (the snapshot and the note
    are deleted then, or were never kept), and nothing while consent_allowance says no: the
    consent ended or expired, a partner is suspended, the partnership is out of its window
    or no longer has the flow. Only the categories that may flow now are shown."""
    if not referral.snapshot_sealed:
        return Disclosed()
    found = consent_allowance(
        customer_id=referral.customer_id,
        source_id=referral.from_partner_id,
        recipient_id=referral.to_partner_id,
        purpose="referral",
        consent_id=referral.consent_id,
    )
    if found is None:
        return Disclosed()
    _consent, allowed = found
    customer = Customer.objects.select_related("key").get(pk=referral.customer_id)
    data_key = customer.data_key()
    note = referral.open_note(data_key=data_key) or None
    if referral.to_partner_id != partner_id:
        return Disclosed(note=note)
    data = {
        code: value
        for code, value in referral.open_snapshot(data_key=data_key).items()
        if code in allowed
    }
    access_record_api(
        customer_id=customer.pk,
        client_id=client_id,
        partner_id=partner_id,
        purpose="referral",
        consent_id=referral.consent_id,
        fields=tuple(sorted(data)) + (("referral.note",) if note else ()),
    )
    return Disclosed(data=data, note=note)
