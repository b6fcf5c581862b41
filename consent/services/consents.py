"""Consent records: requests, grants, withdrawals, amendments, expiry and termination.

Every state change goes through ``_move`` (forward-only, one ``ConsentEvent`` per
transition) and tells the partners entitled to know through the outbox, each under its own
pairwise customer id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent.emails import consents_terminated_queue
from consent.models import (
    MAX_CONSENT_DAYS,
    Consent,
    ConsentEvent,
    ConsentNotification,
    Customer,
    Notice,
    PartnerLink,
)
from consent.selectors import (
    consent_request_of,
    consents_live,
    flow_allowance,
    link_of_partner,
    pairwise_ids,
)
from consent.services.access import Access, access_record, access_record_api
from consent.services.notices import notice_hash, notice_render
from consent.services.receipts import receipts_issue
from consent.signals import consent_ended
from ecosystem import transitions
from ecosystem.errors import (
    ApplicationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
)
from ecosystem.services.audit import actor_label, audit_record
from partners.models import Partner, Purpose
from partners.webhooks.events import event_publish

S = Consent.Status
M = ConsentEvent.Method

# Which parties hear of each transition: a request's outcome concerns the partner that asked;
# everything after a grant concerns both ends of the flow.
EVENT_FOR_STATUS: dict[str, str] = {
    S.ACTIVE: "consent.granted",
    S.REFUSED: "consent.refused",
    S.LAPSED: "consent.lapsed",
    S.WITHDRAWN: "consent.withdrawn",
    S.EXPIRED: "consent.expired",
    S.TERMINATED: "consent.terminated",
}
REQUESTER_ONLY = {S.REQUESTED, S.REFUSED, S.LAPSED}
# Transitions after which nothing may flow under the consent (an amendment supersedes it with
# a new record that carries on).
ENDING = {S.WITHDRAWN, S.EXPIRED, S.TERMINATED}


# What a partner learns from a consent payload or response, as the access log names it.
CONSENT_RECORD_FIELDS = ("consent.purpose", "consent.categories", "consent.status", "consent.dates")


class ConsentTransitionError(transitions.InvalidTransition):
    code = "invalid_transition"
    title = "The consent is not in a state that allows this."


class RequestLapsedError(ConsentTransitionError):
    code = "request_lapsed"


class ConsentError(ApplicationError):
    code = "invalid_consent"
    title = "The consent is not valid."


class PartnershipRequired(ForbiddenError):
    code = "partnership_required"
    title = "No active partnership allows this flow."


@dataclass(frozen=True)
class Actor:
    """Who moved a consent and how: ``label`` is ``customer:cst_…``, ``client:cli_…``,
    ``user:<id>`` or ``system`` — never a name or an email."""

    label: str
    method: str

    @classmethod
    def customer(cls, customer: Customer) -> Actor:
        return cls(f"customer:{customer.pk}", M.PORTAL)

    @classmethod
    def system(cls) -> Actor:
        return cls("system", M.SYSTEM)

    @classmethod
    def of(cls, actor: Any, method: str) -> Actor:
        return cls(actor_label(actor), method)


def consents_moving() -> QuerySet[Consent]:
    """Consents to move, with what every transition reads (both partners and the purpose for
    the receipts) joined in rather than fetched per row."""
    return Consent.objects.select_related("source", "recipient", "purpose")


def consents_locked(**options: Any) -> QuerySet[Consent]:
    """As consents_moving, row-locked FOR NO KEY UPDATE (a transition changes no key column,
    so foreign-key checks from the rows that name a consent do not wait on it); only the
    consents are locked."""
    return consents_moving().select_for_update(no_key=True, of=("self",), **options)


def _lock(consent: Consent) -> Consent:
    return consents_locked().get(pk=consent.pk)


# What the beat jobs write when they mark an overdue record, and what every service writes
# when it meets one first.
OVERDUE_REASONS: dict[str, str] = {
    S.EXPIRED: "Reached its expiry.",
    S.LAPSED: "Not answered in time.",
}


def consent_settle(consent: Consent, *, now: datetime) -> str:
    """The (locked) consent's status as it stands at ``now``. An expiry or lapse the beat
    jobs have not marked yet is recorded first, exactly as they would record it, so no
    service acts on an active consent that has expired or a request that has lapsed."""
    state = consent.effective_status(now)
    if state != consent.status:
        reason = OVERDUE_REASONS[state]
        consent_transition(consent, to=state, by=Actor.system(), reason=reason, now=now)
    return state


def consent_transition(
    consent: Consent, *, to: str, by: Actor, reason: str = "", now: datetime | None = None
) -> ConsentEvent:
    """The one place ``status`` changes: forward only, one appended event per transition,
    the entitled partners told in the same transaction."""
    now = now or timezone.now()
    transitions.expect(consent, to=to, error=ConsentTransitionError)
    before = consent.status
    fields = []
    if to == S.ACTIVE:
        consent.granted_at = now
        fields.append("granted_at")
    elif before == S.ACTIVE or to in REQUESTER_ONLY:
        consent.ended_at, consent.ended_reason = now, reason[:300]
        fields += ["ended_at", "ended_reason"]
    # No audit row: the appended ConsentEvent, with its signed receipts, is this record's log.
    transitions.transition(
        consent,
        to=to,
        error=ConsentTransitionError,
        fields=[*fields, "expires_at", "data_categories"],
    )
    event = _record(consent, before=before, to=to, by=by, reason=reason, now=now)
    if to in ENDING:
        consent_ended.send(sender=Consent, consent=consent, status=to, reason=reason)
    return event


def _record(
    consent: Consent, *, before: str, to: str, by: Actor, reason: str, now: datetime
) -> ConsentEvent:
    """Append the transition's event, sign a receipt for the customer and for each partner
    concerned, and tell those partners (outbox), all in the caller's transaction."""
    event = ConsentEvent.objects.create(
        consent=consent,
        from_status=before,
        to_status=to,
        actor=by.label,
        method=by.method,
        reason=reason[:300],
        data_categories=consent.data_categories,
        at=now,
    )
    parties = {consent.source_id}
    if to not in REQUESTER_ONLY:
        parties.add(consent.recipient_id)
    # Only partners the customer is linked to take part, each under its own pairwise id.
    pairwise = pairwise_ids(customer_id=consent.customer_id, partner_ids=parties)
    receipts_issue(consent, event, pairwise=pairwise)
    if to in EVENT_FOR_STATUS and pairwise:
        _tell_partners(consent, event, pairwise)
    return event


def consent_payload(consent: Consent, *, customer_id: str, reason: str = "") -> dict[str, Any]:
    """What a partner is told of a consent, naming the customer by that partner's own id."""
    return {
        "consent_id": consent.id,
        "customer_id": customer_id,
        "purpose": consent.purpose_id,
        "source": consent.source_id,
        "recipient": consent.recipient_id,
        "data_categories": consent.data_categories,
        "status": consent.status,
        "granted_at": consent.granted_at,
        "expires_at": consent.expires_at,
        "reason": reason,
    }


def _tell_partners(consent: Consent, event: ConsentEvent, pairwise: dict[str, str]) -> None:
    published = event_publish(
        type=EVENT_FOR_STATUS[event.to_status],
        payloads={
            partner_id: consent_payload(consent, customer_id=customer_id, reason=event.reason)
            for partner_id, customer_id in pairwise.items()
        },
    )
    ConsentNotification.objects.bulk_create(
        ConsentNotification(
            consent_event=event,
            partner_id=partner_id,
            event_id=published.public_ids[partner_id],
            subscribed=partner_id in published.delivered_to,
        )
        for partner_id in pairwise
    )
    # The payloads carry the customer's consent record: each one is a disclosure.
    access_record(
        *(
            Access(
                customer_id=consent.customer_id,
                channel="webhook",
                actor=f"event:{published.public_ids[partner_id]}",
                partner_id=partner_id,
                purpose="consent",
                consent_id=consent.pk,
                fields=CONSENT_RECORD_FIELDS,
            )
            for partner_id in pairwise
        )
    )


def notice_for(purpose: Purpose, partnership: Any, language: str) -> Notice:
    """The newest notice for the purpose: the partnership's own if it has one, else the
    general one; English when the language has none."""
    candidates = Notice.objects.filter(purpose=purpose).order_by("-version")
    for scope in ([partnership] if partnership is not None else []) + [None]:
        for lang in dict.fromkeys([language, "en"]):
            notice = candidates.filter(partnership=scope, language=lang).first()
            if notice is not None:
                return notice
    raise ConsentError(f"No notice is published for {purpose.pk}.", code="notice_missing")


def _allowance(
    *, source_id: str, recipient_id: str, purpose: Purpose, at: datetime
) -> tuple[Any, set[str]]:
    allowance = flow_allowance(
        source_id=source_id, recipient_id=recipient_id, purpose=purpose, at=at
    )
    if allowance is not None:
        return allowance
    if purpose.single_partner:
        raise PartnershipRequired(
            f"{purpose.pk} concerns one active partner: source and recipient are that partner.",
            code="partner_inactive" if source_id == recipient_id else "invalid_recipient",
        )
    raise PartnershipRequired(
        f"No active partnership lets {source_id} share with {recipient_id} for {purpose.pk}. "
        "Ask the ecosystem admins to add that flow."
    )


def notice_shown(notice: Notice, source_id: str, recipient_id: str) -> str:
    """The notice's text as the customer sees it for this flow (names filled in)."""
    names = dict(Partner.objects.filter(pk__in={source_id, recipient_id}).values_list("pk", "name"))
    return notice_render(notice.text, source=names[source_id], recipient=names[recipient_id])


def _categories(purpose: Purpose, requested: Iterable[str], allowed: set[str]) -> list[str]:
    chosen = sorted(set(requested))
    # Purposes that carry no data (offers) need none; a link may carry none (the pairwise id
    # alone) or the contact details the customer chose on the connect screen.
    if not chosen and allowed and not purpose.single_partner:
        raise ConsentError("Name at least one data category.", code="categories_required")
    outside = [code for code in chosen if code not in allowed]
    if outside:
        raise PartnershipRequired(
            f"No active partnership flow allows {', '.join(outside)} for {purpose.pk}.",
            extra={"categories": outside},
        )
    return chosen


def consent_expiry(granted_at: datetime, days: int | None = None) -> datetime:
    """When a consent granted at ``granted_at`` for ``days`` (the default length if None)
    ends; refused outside 1 to MAX_CONSENT_DAYS."""
    days = settings.CONSENT_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_CONSENT_DAYS:
        raise ConsentError(
            f"A consent lasts between 1 and {MAX_CONSENT_DAYS} days.", code="invalid_duration"
        )
    return granted_at + timedelta(days=days)


def _new_record(
    *,
    customer: Customer,
    purpose: Purpose,
    source_id: str,
    recipient_id: str,
    categories: Iterable[str],
    status: str,
    method: str,
    language: str,
    now: datetime,
    message: str = "",
    client_id: str = "",
    supersedes: Consent | None = None,
) -> Consent:
    partnership, allowed = _allowance(
        source_id=source_id, recipient_id=recipient_id, purpose=purpose, at=now
    )
    chosen = _categories(purpose, categories, allowed)
    notice = notice_for(purpose, partnership, language)
    consent = Consent(
        customer=customer,
        purpose=purpose,
        source_id=source_id,
        recipient_id=recipient_id,
        data_categories=chosen,
        status=status,
        method=method,
        partnership=partnership,
        partnership_version=partnership.version if partnership else None,
        notice=notice,
        notice_version=notice.version,
        notice_language=notice.language,
        notice_sha256=notice_hash(notice_shown(notice, source_id, recipient_id)),
        request_message=message,
        requested_by_client=client_id,
        supersedes=supersedes,
        created_at=now,
    )
    try:
        with transaction.atomic():
            consent.save(force_insert=True)
    except IntegrityError:
        raise ConflictError(
            "This customer already has a live consent or request for this flow.",
            code="consent_exists",
        ) from None
    return consent


def _active_link(*, partner_id: str, customer_id: str) -> PartnerLink:
    """The partner's link named by its pairwise id; 404 for another partner's id."""
    link = link_of_partner(partner_id=partner_id, customer_id=customer_id)
    if link is None:
        raise NotFoundError("No customer with this id is linked to you.")
    if link.status != PartnerLink.Status.ACTIVE:
        raise ConflictError(
            "The customer has not confirmed the link to you.", code="link_not_active"
        )
    return link


@transaction.atomic
def consent_request_create(
    *,
    partner_id: str,
    client_id: str,
    customer_id: str,
    recipient_id: str | None,
    purpose_code: str,
    data_categories: list[str],
    message: str,
    language: str = "en",
) -> Consent:
    """A partner asks a linked customer to consent: a ``requested`` record the customer
    answers in the portal. ``recipient_id`` defaults to the caller (single-partner
    purposes)."""
    link = _active_link(partner_id=partner_id, customer_id=customer_id)
    purpose = Purpose.objects.filter(pk=purpose_code).first()
    if purpose is None:
        raise ConsentError(f"Unknown purpose {purpose_code!r}.", code="unknown_purpose")
    recipient_id = recipient_id or partner_id
    if purpose.single_partner and recipient_id != partner_id:
        raise ConsentError(
            f"{purpose.pk} concerns one partner: the recipient is you.", code="invalid_recipient"
        )
    now = timezone.now()
    _check_cooldown(customer_id=link.customer_id, partner_id=partner_id, purpose=purpose, now=now)
    consent = _new_record(
        customer=link.customer,
        purpose=purpose,
        source_id=partner_id,
        recipient_id=recipient_id,
        categories=data_categories,
        status=S.REQUESTED,
        method=Consent.Method.PORTAL,
        language=language,
        now=now,
        message=message.strip(),
        client_id=client_id,
    )
    consent.lapses_at = now + timedelta(hours=settings.CONSENT_REQUEST_LAPSE_HOURS)
    consent.save(update_fields=["lapses_at"])
    by = Actor(f"client:{client_id}", M.API)
    _record(consent, before="", to=S.REQUESTED, by=by, reason="", now=now)
    return consent


def _check_cooldown(*, customer_id: str, partner_id: str, purpose: Purpose, now: datetime) -> None:
    """A customer who refused is not asked again by the same partner for the same purpose
    (whatever the recipient) until ``CONSENT_REQUEST_COOLDOWN_HOURS`` have passed."""
    cooldown = timedelta(hours=settings.CONSENT_REQUEST_COOLDOWN_HOURS)
    if not cooldown:
        return
    refused_at = (
        Consent.objects.filter(
            customer_id=customer_id,
            source_id=partner_id,
            purpose=purpose,
            status=S.REFUSED,
            ended_at__gt=now - cooldown,
        )
        .order_by("-ended_at")
        .values_list("ended_at", flat=True)
        .first()
    )
    if refused_at is not None:
        wait = math.ceil((refused_at + cooldown - now).total_seconds())
        raise RateLimitedError(
            f"The customer refused your last {purpose.pk} request; you may ask again "
            f"{settings.CONSENT_REQUEST_COOLDOWN_HOURS} hours after the refusal.",
            code="consent_request_cooldown",
            extra={"retry_after": max(1, wait)},
        )


def consent_request_read(*, partner_id: str, consent_id: str, client_id: str) -> Consent:
    """A consent request the partner made, as it stands (its record disclosed, and recorded
    as such); 404 for anyone else's."""
    consent = consent_request_of(partner_id=partner_id, consent_id=consent_id)
    if consent is None:
        raise NotFoundError("No consent request with this id is yours.")
    consents_disclosed(
        customer_id=consent.customer_id,
        partner_id=partner_id,
        client_id=client_id,
        consent_ids=[consent.pk],
    )
    return consent


def consents_disclosed(
    *, customer_id: str, partner_id: str, client_id: str, consent_ids: Sequence[str]
) -> None:
    """Record that an API response carried the customer's consent records (one, or a page):
    a row per record, each naming the consent it disclosed."""
    access_record_api(
        customer_id=customer_id,
        client_id=client_id,
        partner_id=partner_id,
        purpose="consent",
        fields=CONSENT_RECORD_FIELDS,
        consent_ids=consent_ids,
    )


def consent_request_approve(
    *,
    consent: Consent,
    customer: Customer,
    data_categories: list[str] | None = None,
    days: int | None = None,
) -> Consent:
    """The customer says yes, possibly to fewer categories than asked. The flow is checked
    again: the partnership may have changed since the request. A request past its lapse time
    is marked lapsed (that change commits) and the approval refused."""
    with transaction.atomic():
        consent = _lock(consent)
        _check_owner(consent, customer)
        now = timezone.now()
        if consent_settle(consent, now=now) != S.LAPSED:
            return _approve(consent, customer, data_categories, days, now)
    raise RequestLapsedError("This request was not answered in time and has lapsed.")


def _approve(
    consent: Consent,
    customer: Customer,
    data_categories: list[str] | None,
    days: int | None,
    now: datetime,
) -> Consent:
    if consent.status != S.REQUESTED:
        raise ConsentTransitionError(f"This request is already {consent.status}.")
    requested = set(consent.data_categories)
    chosen = sorted(requested if data_categories is None else set(data_categories))
    if (requested and not chosen) or not set(chosen) <= requested:
        raise ConsentError(
            "Approve some of the requested categories, and only those.",
            code="invalid_categories",
        )
    _partnership, allowed = _allowance(
        source_id=consent.source_id,
        recipient_id=consent.recipient_id,
        purpose=consent.purpose,
        at=now,
    )
    _categories(consent.purpose, chosen, allowed)
    consent.data_categories = chosen
    consent.expires_at = consent_expiry(now, days)
    consent_transition(consent, to=S.ACTIVE, by=Actor.customer(customer), now=now)
    return consent


def _check_owner(consent: Consent, customer: Customer) -> None:
    if consent.customer_id != customer.pk:
        raise NotFoundError("No such consent.")


def consent_request_refuse(*, consent: Consent, customer: Customer, reason: str = "") -> Consent:
    """The customer says no. A request past its lapse time is marked lapsed instead (that
    commits) and the refusal reported as too late."""
    with transaction.atomic():
        consent = _lock(consent)
        _check_owner(consent, customer)
        now = timezone.now()
        if consent_settle(consent, now=now) != S.LAPSED:
            if consent.status != S.REQUESTED:
                raise ConsentTransitionError(f"This request is already {consent.status}.")
            by = Actor.customer(customer)
            consent_transition(consent, to=S.REFUSED, by=by, reason=reason, now=now)
            return consent
    raise RequestLapsedError("This request was not answered in time and has lapsed.")


@transaction.atomic
def consent_grant(
    *,
    customer: Customer,
    purpose: Purpose,
    source_id: str,
    recipient_id: str,
    data_categories: list[str],
    days: int | None = None,
    language: str = "en",
    method: str = Consent.Method.PORTAL,
) -> Consent:
    """The customer consents without being asked (in the portal, or on the connect screen
    with ``method=connect``)."""
    now = timezone.now()
    consent = _new_record(
        customer=customer,
        purpose=purpose,
        source_id=source_id,
        recipient_id=recipient_id,
        categories=data_categories,
        status=S.REQUESTED,  # born requested for a moment, so the grant is a transition
        method=method,
        language=language,
        now=now,
    )
    consent.expires_at = consent_expiry(now, days)
    consent_transition(consent, to=S.ACTIVE, by=Actor.customer(customer), now=now)
    return consent


def consent_amend(
    *,
    consent: Consent,
    customer: Customer,
    data_categories: list[str],
    days: int | None = None,
    method: str | None = None,
) -> Consent:
    """Change an active consent's categories: a new active record replaces it, and the old
    one becomes ``superseded`` (its receipt still proves what was agreed before). A consent
    past its expiry is marked expired instead (that commits) and the change refused."""
    with transaction.atomic():
        old = _lock(consent)
        _check_owner(old, customer)
        now = timezone.now()
        if consent_settle(old, now=now) == S.ACTIVE:
            return _amend(old, customer, data_categories, days, now, method=method)
    raise ConsentTransitionError("Only an active consent can be amended.")


def _amend(
    old: Consent,
    customer: Customer,
    data_categories: list[str],
    days: int | None,
    now: datetime,
    *,
    method: str | None = None,
    reason: str = "Amended by the customer.",
) -> Consent:
    by = Actor.customer(customer)
    consent_transition(old, to=S.SUPERSEDED, by=by, reason=reason, now=now)
    new = _new_record(
        customer=customer,
        purpose=old.purpose,
        source_id=old.source_id,
        recipient_id=old.recipient_id,
        categories=data_categories,
        status=S.REQUESTED,
        method=method or old.method,
        language=old.notice_language,
        now=now,
        supersedes=old,
    )
    new.expires_at = consent_expiry(now, days)
    consent_transition(new, to=S.ACTIVE, by=by, now=now)
    return new


class ConsentNotRenewable(ConsentTransitionError):
    code = "consent_not_renewable"


RENEWED_REASON = "Renewed by the customer."


def consent_renew(*, consent: Consent, customer: Customer) -> Consent:
    """The customer keeps an active consent beyond its expiry (the expiry notice's link): a
    new active record for the same flow and categories, under the partnership's current
    version and a new ``CONSENT_DEFAULT_DAYS`` window, with its own receipt; the old one
    becomes ``superseded``. Refused, with nothing written, when the flow no longer allows
    the purpose or a category (``partnership_required``) and when the consent is no longer
    active (``consent_not_renewable``; one found past its expiry is marked expired first,
    and that commits); another customer's consent is not found."""
    with transaction.atomic():
        old = _lock(consent)
        _check_owner(old, customer)
        now = timezone.now()
        state = consent_settle(old, now=now)
        if state == S.ACTIVE:
            return _amend(old, customer, old.data_categories, None, now, reason=RENEWED_REASON)
    raise ConsentNotRenewable(
        f"This consent is {state}: only an active consent can be renewed. "
        "The brand can ask you for a new one."
    )


def consent_withdraw(
    *, consent: Consent, customer: Customer, by: Actor | None = None, reason: str = ""
) -> ConsentEvent:
    """Withdraw one consent, effective at once: the consent check refuses from the commit
    on, and both partners are told. ``by`` defaults to the customer in the portal (an admin
    records a written request with ``Actor.of(admin, M.WRITTEN_REQUEST)``). A consent past
    its expiry is marked expired instead (that commits) and the withdrawal refused."""
    with transaction.atomic():
        consent = _lock(consent)
        _check_owner(consent, customer)
        now = timezone.now()
        if consent_settle(consent, now=now) != S.EXPIRED:
            if consent.status != S.ACTIVE:
                raise ConsentTransitionError(f"This consent is {consent.status}, not active.")
            by = by or Actor.customer(customer)
            event = consent_transition(consent, to=S.WITHDRAWN, by=by, reason=reason, now=now)
            audit_record(actor=by.label, action="consent.withdraw", obj=consent)
            return event
    raise ConsentTransitionError("This consent has already expired.", code="consent_expired")


@transaction.atomic
def consents_withdraw_with_partner(
    *, customer: Customer, partner_id: str, by: Actor | None = None
) -> list[ConsentEvent]:
    """ "Stop all sharing with this brand": every active consent where the partner is source
    or recipient is withdrawn, and its open requests refused."""
    by = by or Actor.customer(customer)
    events = []
    open_consents = (
        consents_locked()
        .filter(pk__in=consents_live(customer.pk, partner_id=partner_id))
        .order_by("pk")
    )
    now = timezone.now()
    reason = "Stopped all sharing with this partner."
    for consent in open_consents:
        state = consent_settle(consent, now=now)
        if state == S.ACTIVE:
            events.append(
                consent_transition(consent, to=S.WITHDRAWN, by=by, reason=reason, now=now)
            )
        elif state == S.REQUESTED:  # an open request from or to this partner
            consent_transition(consent, to=S.REFUSED, by=by, reason=reason, now=now)
    audit_record(
        actor=by.label,
        action="consent.withdraw_with_partner",
        obj=customer,
        data={"partner": partner_id, "withdrawn": len(events)},
    )
    return events


def _sweep(due: dict[str, Any], *, to: str, reason: str, order: str, batch_size: int) -> int:
    """Move every row matching ``due`` to ``to`` in batches, skipping rows another worker
    holds (safe to run twice, or on two beat hosts by mistake)."""

    def move(batch: list[Consent]) -> None:
        for consent in batch:
            consent_transition(consent, to=to, by=Actor.system(), reason=reason)

    due_rows = consents_moving().filter(**due)
    return transitions.sweep(due_rows, move, order=(order,), batch_size=batch_size)


def consents_expire(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Mark active consents past their expiry and tell the partners (beat). The consent
    check never depended on this having run."""
    due = {"status": S.ACTIVE, "expires_at__lte": now or timezone.now()}
    reason = OVERDUE_REASONS[S.EXPIRED]
    return _sweep(due, to=S.EXPIRED, reason=reason, order="expires_at", batch_size=batch_size)


def consent_requests_lapse(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Requests nobody answered in time lapse (beat); approving one after is refused anyway."""
    due = {"status": S.REQUESTED, "lapses_at__lte": now or timezone.now()}
    reason = OVERDUE_REASONS[S.LAPSED]
    return _sweep(due, to=S.LAPSED, reason=reason, order="lapses_at", batch_size=batch_size)


def consents_terminate(
    consents: Iterable[Consent], *, reason: str | Callable[[Consent], str]
) -> list[Consent]:
    """End consents whose partnership, flow or partner went away (called from
    ``consent.partner_changes`` inside the partner service's transaction); open requests for them
    lapse. ``reason`` may differ per consent. Each customer is emailed once, listing why,
    once the change commits."""
    ended = []
    now = timezone.now()
    why = reason if callable(reason) else lambda _consent: reason
    for consent in consents:
        state = consent_settle(consent, now=now)
        if state == S.ACTIVE:
            by, text = Actor.system(), why(consent)
            consent_transition(consent, to=S.TERMINATED, by=by, reason=text, now=now)
            ended.append(consent)
        elif state == S.REQUESTED:
            by, text = Actor.system(), why(consent)
            consent_transition(consent, to=S.LAPSED, by=by, reason=text, now=now)
    by_customer: dict[str, list[Consent]] = {}
    for consent in ended:
        by_customer.setdefault(consent.customer_id, []).append(consent)
    for customer_id, of_customer in by_customer.items():
        customer = Customer.objects.select_related("key").get(pk=customer_id)
        consents_terminated_queue(customer=customer, consents=of_customer)
    return ended
