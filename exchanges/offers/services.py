"""Offer services: draft, co-sponsor, submit, review, publish, retire, redeem, save. Each
checks the party and the state (TRANSITIONS, ecosystem.transitions), writes the audit row
and tells the sponsors through the outbox in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from consent.models import Consent, Customer
from consent.selectors import consents_hold, consents_in_force, link_of_partner, pairwise_ids
from consent.services.access import Access, access_record
from ecosystem import transitions
from ecosystem.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError
from ecosystem.services.audit import audit_record
from ecosystem.services.emails import email_queue
from exchanges.offers import selectors
from exchanges.offers.models import Offer, OfferSponsor, Redemption, SavedOffer
from exchanges.offers.text import body_clean, body_text
from exchanges.rewards.models import Reward
from exchanges.rewards.services import reward_grant, reward_value_check
from partners.models import Partner, Partnership
from partners.webhooks.events import event_publish

ST = Offer.Status
S = OfferSponsor.Status
EDITABLE = (
    "title",
    "body",
    "terms",
    "starts_at",
    "ends_at",
    "cap_total",
    "cap_per_customer",
    "reward",
)


@dataclass(frozen=True)
class OfferReward:
    """The reward a redemption earns the customer: ``amount`` of ``unit`` (an ISO 4217
    currency or a points programme code), funded by ``funder``, one of the offer's sponsors."""

    funder: str
    amount: Decimal
    unit: str


def _reward_of(offer: Offer) -> OfferReward | None:
    if offer.reward_funder_id is None or offer.reward_amount is None:
        return None
    return OfferReward(offer.reward_funder_id, offer.reward_amount, offer.reward_unit)


def _reward_audit(reward: OfferReward | None) -> dict[str, str] | None:
    if reward is None:
        return None
    return {"funder": reward.funder, "amount": str(reward.amount), "unit": reward.unit}


def _set_reward(offer: Offer, reward: OfferReward | None) -> None:
    offer.reward_funder_id = reward.funder if reward else None
    offer.reward_amount = reward.amount if reward else None
    offer.reward_unit = reward.unit if reward else ""


class OfferTransitionError(ConflictError):
    code = "invalid_transition"
    title = "The offer is not in a state that allows this."


class OfferInvalid(ApplicationError):
    code = "offer_invalid"
    title = "The offer is not valid."


def _invalid_party(who: str, verb: str) -> ForbiddenError:
    return ForbiddenError(f"Only {who} may {verb} this offer.", code="invalid_party")


def _check_window(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise OfferInvalid("ends_at must be after starts_at.", code="invalid_window")


def _check_caps(cap_total: int | None, cap_per_customer: int) -> None:
    if cap_total is not None and cap_total < cap_per_customer:
        raise OfferInvalid("cap_total cannot be below cap_per_customer.", code="invalid_caps")


def _check_reward(lead_id: str, cosponsor_ids: Iterable[str], reward: OfferReward | None) -> None:
    """The funder is one of the offer's sponsors; the value one the ledger can hold
    (rewards' ``reward_value_check``: invalid_reward_amount, invalid_reward_unit)."""
    if reward is None:
        return
    if reward.funder not in {lead_id, *cosponsor_ids}:
        raise OfferInvalid(
            "The reward's funder must be one of the offer's sponsors: you or a co-sponsor.",
            code="reward_funder_not_sponsor",
        )
    reward_value_check(amount=reward.amount, unit=reward.unit)


def _partnered(lead_id: str, partner_ids: Iterable[str], at: datetime) -> set[str]:
    """Those of ``partner_ids`` in an active, current partnership with the lead."""
    rows = (
        Partnership.objects.involving(lead_id)
        .current(at)
        .filter(Q(partner_a_id__in=partner_ids) | Q(partner_b_id__in=partner_ids))
        .values_list("partner_a_id", "partner_b_id")
    )
    return {p for pair in rows for p in pair if p != lead_id}


def _check_cosponsors(lead_id: str, cosponsor_ids: list[str], at: datetime) -> None:
    if lead_id in cosponsor_ids:
        raise OfferInvalid("The lead sponsor cannot also be a co-sponsor.", code="invalid_sponsor")
    if len(set(cosponsor_ids)) != len(cosponsor_ids):
        raise OfferInvalid("Name each co-sponsor once.", code="invalid_sponsor")
    active = set(
        Partner.objects.filter(pk__in=cosponsor_ids, status=Partner.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    missing = sorted(set(cosponsor_ids) - (active & _partnered(lead_id, cosponsor_ids, at)))
    if missing:
        raise ForbiddenError(
            "Each co-sponsor must be an active partner in an active partnership with you: "
            f"{', '.join(missing)} is not.",
            code="partnership_required",
            extra={"co_sponsors": missing},
        )


def offer_check(
    *,
    partner_id: str,
    title: str,
    body: str,
    starts_at: datetime,
    ends_at: datetime,
    cap_total: int | None,
    cap_per_customer: int,
    co_sponsors: list[str],
    reward: OfferReward | None = None,
) -> None:
    """The rules a draft must meet, checked without writing (forms show each refusal next to
    its field; create and update check them again)."""
    if not title.strip() or not body_text(body_clean(body)):
        raise OfferInvalid("An offer needs a title and a body.", code="offer_incomplete")
    _check_window(starts_at, ends_at)
    _check_caps(cap_total, cap_per_customer)
    _check_cosponsors(partner_id, list(co_sponsors), timezone.now())
    _check_reward(partner_id, co_sponsors, reward)


def _payload(offer: Offer) -> dict[str, Any]:
    """What every sponsor is told of an offer: no audience, no customer."""
    return {
        "offer_id": offer.pk,
        "status": offer.status,
        "title": offer.title,
        "lead_sponsor": offer.lead_id,
        "co_sponsors": sorted(s.partner_id for s in offer.sponsors.all() if s.status == S.ACCEPTED),
        "starts_at": offer.starts_at,
        "ends_at": offer.ends_at,
    }


def _tell(offer: Offer, event_type: str) -> None:
    data = _payload(offer)
    event_publish(type=event_type, payloads={pid: data for pid in selectors.sponsor_ids(offer)})


def _locked(offer_id: str) -> Offer:
    return transitions.locked(Offer.objects.select_related("lead"), offer_id)


def _expect_lead(offer: Offer, partner_id: str, verb: str) -> None:
    if offer.lead_id != partner_id:
        raise _invalid_party("the lead sponsor", verb)


@transaction.atomic
def offer_create(
    *,
    partner_id: str,
    actor: Any,
    title: str,
    body: str,
    starts_at: datetime,
    ends_at: datetime,
    terms: str = "",
    cap_total: int | None = None,
    cap_per_customer: int = 1,
    co_sponsors: list[str] | None = None,
    reward: OfferReward | None = None,
) -> Offer:
    """A draft led by ``partner_id``; every co-sponsor is invited to accept being named."""
    co_sponsors = list(co_sponsors or [])
    now = timezone.now()
    _check_window(starts_at, ends_at)
    _check_caps(cap_total, cap_per_customer)
    _check_cosponsors(partner_id, co_sponsors, now)
    _check_reward(partner_id, co_sponsors, reward)
    offer = Offer(
        lead_id=partner_id,
        title=title.strip(),
        body=body_clean(body),
        terms=terms.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        cap_total=cap_total,
        cap_per_customer=cap_per_customer,
        created_at=now,
        updated_at=now,
    )
    _set_reward(offer, reward)
    if not offer.title or not body_text(offer.body):
        raise OfferInvalid("An offer needs a title and a body.", code="offer_incomplete")
    offer.save(force_insert=True)
    OfferSponsor.objects.bulk_create(OfferSponsor(offer=offer, partner_id=p) for p in co_sponsors)
    audit_record(
        actor=actor,
        action="offer.create",
        obj=offer,
        data={"co_sponsors": co_sponsors, "reward": _reward_audit(reward)},
    )
    return offer


@transaction.atomic
def offer_update(*, offer_id: str, partner_id: str, actor: Any, **changes: Any) -> Offer:
    """The lead edits a draft (a rejected offer becomes a draft again); co-sponsors that had
    accepted are asked again, since what they accepted changed. A published offer can only
    be extended: a later ``ends_at`` and nothing else."""
    offer = _locked(offer_id)
    _expect_lead(offer, partner_id, "edit")
    co_sponsors = changes.pop("co_sponsors", None)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"Not editable: {sorted(unknown)}")
    if offer.status in (ST.PUBLISHED, ST.APPROVED):
        return _extend(offer, actor=actor, changes=changes, co_sponsors=co_sponsors)
    if offer.status == ST.REJECTED:
        transitions.transition(
            offer, to=ST.DRAFT, error=OfferTransitionError, actor=actor, action="offer.redraft"
        )
    if offer.status != ST.DRAFT:
        raise OfferTransitionError(f"A {offer.status} offer cannot be edited.")
    now = timezone.now()
    if "body" in changes:
        changes["body"] = body_clean(changes["body"])
    for name in ("title", "terms"):
        if name in changes:
            changes[name] = changes[name].strip()
    fields = sorted(changes)
    if "reward" in changes:
        _set_reward(offer, changes.pop("reward"))
        fields = [*changes, "reward_funder", "reward_amount", "reward_unit"]
    for name, value in changes.items():
        setattr(offer, name, value)
    _check_window(offer.starts_at, offer.ends_at)
    _check_caps(offer.cap_total, offer.cap_per_customer)
    if not offer.title or not body_text(offer.body):
        raise OfferInvalid("An offer needs a title and a body.", code="offer_incomplete")
    named = (
        list(co_sponsors)
        if co_sponsors is not None
        else list(offer.sponsors.values_list("partner_id", flat=True))
    )
    _check_reward(offer.lead_id, named, _reward_of(offer))
    if co_sponsors is not None:
        co_sponsors = list(co_sponsors)
        _check_cosponsors(partner_id, co_sponsors, now)
        offer.sponsors.exclude(partner_id__in=co_sponsors).delete()
        have = set(offer.sponsors.values_list("partner_id", flat=True))
        OfferSponsor.objects.bulk_create(
            OfferSponsor(offer=offer, partner_id=p) for p in co_sponsors if p not in have
        )
    offer.sponsors.exclude(status=S.INVITED).update(status=S.INVITED, answered_at=None)
    offer.updated_at = now
    offer.save(update_fields=[*fields, "updated_at"])
    audit_record(
        actor=actor,
        action="offer.update",
        obj=offer,
        data={"fields": sorted(fields), "reward": _reward_audit(_reward_of(offer))},
    )
    return offer


def _extend(offer: Offer, *, actor: Any, changes: dict[str, Any], co_sponsors: Any) -> Offer:
    ends_at = changes.pop("ends_at", None)
    if changes or co_sponsors is not None or ends_at is None:
        raise OfferTransitionError(
            f"A {offer.status} offer can only be extended (a later ends_at) or retired.",
            code="offer_not_editable",
        )
    if ends_at <= offer.ends_at:
        raise OfferInvalid(
            "An extension must end later than the offer does now.", code="invalid_window"
        )
    before = offer.ends_at
    offer.ends_at, offer.updated_at = ends_at, timezone.now()
    offer.save(update_fields=["ends_at", "updated_at"])
    audit_record(
        actor=actor,
        action="offer.extend",
        obj=offer,
        data={"from": before.isoformat(), "to": ends_at.isoformat()},
    )
    return offer


@transaction.atomic
def offer_cosponsor_answer(*, offer_id: str, partner_id: str, actor: Any, accept: bool) -> Offer:
    """A named co-sponsor accepts or declines being named, while the offer is a draft."""
    offer = _locked(offer_id)
    sponsor = offer.sponsors.select_for_update(no_key=True).filter(partner_id=partner_id).first()
    if sponsor is None:
        raise _invalid_party("a named co-sponsor", "accept or decline")
    if offer.status != ST.DRAFT:
        raise OfferTransitionError(f"A {offer.status} offer can no longer be accepted or declined.")
    if accept and not _partnered(offer.lead_id, [partner_id], timezone.now()):
        raise ForbiddenError(
            "You are no longer in an active partnership with the lead sponsor.",
            code="partnership_required",
        )
    sponsor.status = S.ACCEPTED if accept else S.DECLINED
    sponsor.answered_at = timezone.now()
    sponsor.save(update_fields=["status", "answered_at"])
    audit_record(
        actor=actor,
        action="offer.cosponsor_accept" if accept else "offer.cosponsor_decline",
        obj=offer,
        data={"partner": partner_id},
    )
    return offer


@transaction.atomic
def offer_submit(*, offer_id: str, partner_id: str, actor: Any) -> Offer:
    """The lead asks for review: every co-sponsor has accepted, each still partnered, and
    the window has not closed."""
    offer = _locked(offer_id)
    _expect_lead(offer, partner_id, "submit")
    transitions.expect(
        offer,
        to=ST.SUBMITTED,
        error=OfferTransitionError,
        detail=f"A {offer.status} offer cannot be submitted.",
    )
    now = timezone.now()
    sponsors = list(offer.sponsors.all())
    waiting = sorted(s.partner_id for s in sponsors if s.status != S.ACCEPTED)
    if waiting:
        raise ConflictError(
            "Every co-sponsor must accept being named before the offer is submitted; "
            f"waiting for or declined by: {', '.join(waiting)}.",
            code="cosponsors_not_accepted",
            extra={"co_sponsors": waiting},
        )
    _check_cosponsors(offer.lead_id, [s.partner_id for s in sponsors], now)
    if offer.ends_at <= now:
        raise OfferInvalid("The offer's window has already closed.", code="invalid_window")
    offer.submitted_at = now
    offer.rejection_reason = ""
    return transitions.transition(
        offer,
        to=ST.SUBMITTED,
        error=OfferTransitionError,
        fields=["submitted_at", "rejection_reason"],
        actor=actor,
        action="offer.submit",
    )


def _email_lead(offer: Offer, kind: str, subject: str, body: str) -> None:
    lead = offer.lead
    email_queue(
        kind=kind,
        to=[lead.contact_email],
        subject=subject,
        body=f"Hello {lead.contact_name},\n\n{body}",
    )


@transaction.atomic
def offer_approve(*, offer_id: str, actor: Any) -> Offer:
    """An admin approves a submitted offer; it is published at once if its window has
    opened (otherwise by ``offers_publish_due`` when it does). The lead is emailed."""
    offer = _locked(offer_id)
    now = timezone.now()
    transitions.expect(
        offer,
        to=ST.APPROVED,
        error=OfferTransitionError,
        detail=f"A {offer.status} offer cannot be approved.",
    )
    _check_cosponsors(offer.lead_id, [s.partner_id for s in offer.sponsors.all()], now)
    offer.decided_at = now
    transitions.transition(
        offer,
        to=ST.APPROVED,
        error=OfferTransitionError,
        fields=["decided_at"],
        actor=actor,
        action="offer.approve",
    )
    _email_lead(
        offer,
        "offer.approved",
        f"Your offer {offer.pk} is approved",
        f'The offer "{offer.title}" ({offer.pk}) was approved. It is shown to eligible '
        f"customers from {offer.starts_at:%Y-%m-%d %H:%M} UTC.\n",
    )
    if offer.starts_at <= now < offer.ends_at:
        _publish(offer, now)
    return offer


@transaction.atomic
def offer_reject(*, offer_id: str, actor: Any, reason: str) -> Offer:
    """An admin rejects a submitted offer with a reason, emailed to the lead's contact."""
    reason = reason.strip()
    if not reason:
        raise OfferInvalid("Give the lead sponsor a reason.", code="reason_required")
    offer = _locked(offer_id)
    offer.rejection_reason, offer.decided_at = reason[:500], timezone.now()
    transitions.transition(
        offer,
        to=ST.REJECTED,
        error=OfferTransitionError,
        detail=f"A {offer.status} offer cannot be rejected.",
        fields=["rejection_reason", "decided_at"],
        actor=actor,
        action="offer.reject",
    )
    _email_lead(
        offer,
        "offer.rejected",
        f"Your offer {offer.pk} was not approved",
        f'The offer "{offer.title}" ({offer.pk}) was not approved.\n\nReason: {reason}\n\n'
        "Edit it in the partner console (it becomes a draft again) and submit it anew.\n",
    )
    return offer


def _publish(offer: Offer, now: datetime) -> None:
    offer.published_at = now
    transitions.transition(
        offer,
        to=ST.PUBLISHED,
        error=OfferTransitionError,
        fields=["published_at"],
        action="offer.publish",
    )
    _tell(offer, "offer.published")


@transaction.atomic
def offer_retire(*, offer_id: str, actor: Any, partner_id: str | None = None) -> Offer:
    """The lead (``partner_id``) or an admin (None) retires an approved or published offer;
    the sponsors are told if it had been published."""
    offer = _locked(offer_id)
    if partner_id is not None:
        _expect_lead(offer, partner_id, "retire")
    was = offer.status
    offer.retired_at = timezone.now()
    transitions.transition(
        offer,
        to=ST.RETIRED,
        error=OfferTransitionError,
        detail=f"A {offer.status} offer cannot be retired.",
        fields=["retired_at"],
        actor=actor,
        action="offer.retire",
    )
    if was == ST.PUBLISHED:
        _tell(offer, "offer.retired")
    return offer


def offers_publish_due(*, now: datetime | None = None) -> int:
    """Approved offers whose window has opened are published (beat)."""
    now = now or timezone.now()

    def publish(batch: list[Offer]) -> None:
        for offer in batch:
            _publish(offer, now)

    due = Offer.objects.filter(status=ST.APPROVED, starts_at__lte=now, ends_at__gt=now)
    return transitions.sweep(due, publish, order=("starts_at",))


def offers_retire_ended(*, now: datetime | None = None) -> int:
    """Offers whose window has closed are retired (beat); until this runs they are already
    hidden, as liveness is checked when read. A published offer's sponsors are told
    ``offer.retired``, as ``offer_retire`` tells them. An approved offer whose window closed
    before it was ever published is retired too (the one move ``Offer.TRANSITIONS`` leaves
    it: publishing an ended offer would show nothing to anyone), without ``offer.retired``:
    no sponsor was told it was published, so there is nothing to take back."""
    now = now or timezone.now()

    def retire(batch: list[Offer]) -> None:
        for offer in batch:
            was = offer.status
            offer.retired_at = now
            transitions.transition(
                offer,
                to=ST.RETIRED,
                error=OfferTransitionError,
                fields=["retired_at"],
                action="offer.retire",
                data={"window_ended": True},
            )
            if was == ST.PUBLISHED:
                _tell(offer, "offer.retired")

    due = Offer.objects.filter(status__in=[ST.PUBLISHED, ST.APPROVED], ends_at__lte=now)
    return transitions.sweep(due, retire, order=("ends_at",))


# --- redemptions ----------------------------------------------------------------------------


class NotEligible(ForbiddenError):
    code = "customer_not_eligible"
    title = "The customer cannot see this offer."


class OfferNotLive(ConflictError):
    code = "offer_not_live"
    title = "The offer is not live."


class CapReached(ConflictError):
    code = "cap_reached"
    title = "The offer's redemption cap is reached."


def _replayed(offer: Offer, partner_id: str, external_id: str, customer_id: str):
    existing = Redemption.objects.filter(
        offer=offer, partner_id=partner_id, external_id=external_id
    ).first()
    if existing is not None and existing.customer_id != customer_id:
        raise ConflictError(
            "You already recorded a redemption with this external_id for another customer.",
            code="external_id_reused",
        )
    return existing


@transaction.atomic
def redemption_create(
    *, offer: Offer, partner_id: str, client_id: str, customer_id: str, external_id: str
) -> tuple[Redemption, bool]:
    """A sponsor records that the customer it knows as ``customer_id`` redeemed the offer.

    Idempotent per ``external_id``: the same id again returns the first redemption (False:
    not new). Refused unless the customer is eligible now (an offers consent to a sponsor,
    in force), the offer is live and neither cap is reached. Lock order (docs/consent.md):
    the customer's offers consents FOR SHARE first, then the offer row (its count holds the
    caps under any concurrency), then the access-chain head. The sponsors are told, each
    under its own id where the customer lets it show them offers, and each such disclosure
    is recorded in the customer's access log."""
    if partner_id not in selectors.sponsor_ids(offer):
        raise _invalid_party("the lead sponsor or a co-sponsor that accepted", "redeem")
    link = link_of_partner(partner_id=partner_id, customer_id=customer_id, active=True)
    if link is None:
        raise NotFoundError("No customer with this id is linked to you.")
    customer_pk = link.customer_id
    existing = _replayed(offer, partner_id, external_id, customer_pk)
    if existing is not None:
        return existing, False
    now = timezone.now()
    if not offer.is_live(now):  # said before eligibility; checked again under the lock
        raise OfferNotLive("The offer is not published, not in its window, or paused.")
    sponsors = selectors.sponsor_ids(offer)
    candidates = list(
        Consent.objects.filter(
            customer_id=customer_pk,
            purpose_id="offers",
            recipient_id__in=sponsors,
            source_id__in=sponsors,
            status=Consent.Status.ACTIVE,
            expires_at__gt=now,
        ).values_list("pk", flat=True)
    )
    held = consents_hold(candidates, at=now)
    consents = list(
        Consent.objects.select_related("source", "recipient", "partnership").filter(pk__in=held)
    )
    in_force = consents_in_force(consents, at=now)
    by_partner = {c.recipient_id: c for c in consents if c.pk in in_force}
    if not by_partner:
        raise NotEligible(
            "The customer has not let any sponsor of this offer show them offers "
            "(an active offers consent), so they cannot redeem it."
        )
    offer = _locked(offer.pk)
    existing = _replayed(offer, partner_id, external_id, customer_pk)  # raced its own retry
    if existing is not None:
        return existing, False
    if not offer.is_live(now) or not selectors.live_offers(now).filter(pk=offer.pk).exists():
        raise OfferNotLive("The offer is not published, not in its window, or paused.")
    if offer.cap_total is not None and offer.redemption_count >= offer.cap_total:
        raise CapReached("The offer has reached its total redemption cap.")
    mine = Redemption.objects.filter(offer=offer, customer_id=customer_pk).count()
    if mine >= offer.cap_per_customer:
        raise CapReached(
            "The customer has redeemed this offer as often as it allows.",
            code="customer_cap_reached",
        )
    consent = by_partner.get(partner_id) or next(iter(by_partner.values()))
    redemption = Redemption(
        offer=offer,
        partner_id=partner_id,
        customer_id=customer_pk,
        consent=consent,
        external_id=external_id,
        created_at=now,
    )
    if offer.has_reward:
        redemption.reward = _reward_issue(offer, redemption, by_partner)
    redemption.save(force_insert=True)
    offer.redemption_count += 1
    offer.save(update_fields=["redemption_count"])
    audit_record(
        actor=f"client:{client_id}", action="offer.redeem", obj=redemption, data={"offer": offer.pk}
    )
    _tell_redeemed(offer, redemption, by_partner, partner_id, link.pk)
    return redemption, True


def _reward_issue(offer: Offer, redemption: Redemption, by_partner: dict[str, Consent]) -> Reward:
    """The offer's reward to the customer, in the redemption's transaction and under the
    consent it was recorded under (held): withdrawn before its lock date, it is voided as any
    reward is. The funder learns which of its customers earned it only where the customer
    lets it show them offers, or it recorded the redemption itself."""
    funder = offer.reward_funder_id
    assert funder is not None and offer.reward_amount is not None
    where = Partner.objects.only("name").get(pk=redemption.partner_id).name
    return reward_grant(
        funder_id=funder,
        receiver_id=redemption.partner_id,
        customer_id=redemption.customer_id,
        consent=redemption.consent,
        amount=offer.reward_amount,
        unit=offer.reward_unit,
        trigger_ref=redemption.pk,
        title=f"You redeemed the offer “{offer.title}” at {where}",
        funder_knows_customer=funder in by_partner or funder == redemption.partner_id,
    )


def _tell_redeemed(
    offer: Offer,
    redemption: Redemption,
    by_partner: dict[str, Consent],
    redeemer_id: str,
    redeemer_link: str,
) -> None:
    """Every sponsor hears of the redemption. A sponsor learns which of its customers it was
    only where the customer lets that sponsor show them offers (or it recorded it itself):
    elsewhere its payload carries no customer id, only the count."""
    told = set(by_partner) | {redeemer_id}
    ids = pairwise_ids(customer_id=redemption.customer_id, partner_ids=told)
    ids[redeemer_id] = redeemer_link
    payloads = {}
    for partner_id in selectors.sponsor_ids(offer):
        payloads[partner_id] = {
            "offer_id": offer.pk,
            "redemption_id": redemption.pk,
            "customer_id": ids.get(partner_id),
            "redeemed_by": redeemer_id,
            "redeemed_at": redemption.created_at,
            "redemption_count": offer.redemption_count,
            "reward_id": redemption.reward_id,
        }
    published = event_publish(type="offer.redeemed", payloads=payloads)
    # Each payload naming the customer tells that sponsor they redeemed: a disclosure.
    access_record(
        *(
            Access(
                customer_id=redemption.customer_id,
                channel="webhook",
                actor=f"event:{published.public_ids[partner_id]}",
                partner_id=partner_id,
                purpose="offers",
                consent_id=(by_partner.get(partner_id) or redemption.consent).pk,
                link_id=ids[partner_id],
                fields=("offer.redemption",),
            )
            for partner_id in sorted(payloads)
            if ids.get(partner_id)
        )
    )


# --- the customer's saved offers ------------------------------------------------------------


@transaction.atomic
def offer_save(*, customer: Customer, offer_id: str) -> None:
    """Keep a visible offer for later (saving twice is saving once)."""
    if selectors.customer_offer_visible(customer_id=customer.pk, offer_id=offer_id) is None:
        raise NotFoundError("No such offer for you.")
    SavedOffer.objects.get_or_create(customer=customer, offer_id=offer_id)


@transaction.atomic
def offer_unsave(*, customer: Customer, offer_id: str) -> None:
    """Forget a saved offer; an offer the customer never saved, or cannot see, is 404."""
    deleted, _ = SavedOffer.objects.filter(customer=customer, offer_id=offer_id).delete()
    if not deleted:
        raise NotFoundError("No such offer for you.")
