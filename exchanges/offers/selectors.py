"""Reading offers as each party may: a sponsor its own offers (others: none at all), a
customer the live offers it is eligible for now, with the reason it sees each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from consent.models import Consent, PartnerLink
from consent.selectors import consents_in_force
from exchanges.offers.models import Offer, OfferSponsor, Redemption, SavedOffer
from partners.models import Partner

S = OfferSponsor.Status
ACTIVE = Partner.Status.ACTIVE


def _named_sponsors() -> Prefetch:
    return Prefetch(
        "sponsors",
        queryset=OfferSponsor.objects.select_related("partner").order_by("partner__name", "pk"),
    )


def offers_for_partner(*, partner_id: str, status: str | None = None) -> QuerySet[Offer]:
    """Offers the partner leads or was named on as a co-sponsor (whatever its answer)."""
    named = OfferSponsor.objects.filter(offer=OuterRef("pk"), partner_id=partner_id)
    queryset = Offer.objects.filter(Q(lead_id=partner_id) | Q(Exists(named)))
    if status:
        queryset = queryset.filter(status=status)
    return queryset.select_related("lead", "reward_funder").prefetch_related(_named_sponsors())


def offer_of(*, partner_id: str, offer_id: str) -> Offer | None:
    """One offer of the partner's (as lead or co-sponsor); None for anyone else's."""
    return offers_for_partner(partner_id=partner_id).filter(pk=offer_id).first()


def sponsor_ids(offer: Offer) -> set[str]:
    """Who runs the offer now: the lead and the co-sponsors that accepted."""
    return {offer.lead_id} | {s.partner_id for s in offer.sponsors.all() if s.status == S.ACCEPTED}


def offer_redemptions(*, offer: Offer, partner_id: str) -> QuerySet[Redemption]:
    """The offer's redemptions, under the caller's own customer ids. A redemption another
    sponsor recorded for a customer the caller is not linked to shows no customer id."""
    mine = PartnerLink.objects.filter(
        partner_id=partner_id, customer_id=OuterRef("customer_id"), status=PartnerLink.Status.ACTIVE
    )
    return Redemption.objects.filter(offer=offer).annotate(
        pairwise_id=Subquery(mine.values("id")[:1])
    )


@dataclass
class ShownOffer:
    """An offer as the portal shows it to one customer."""

    offer: Offer
    sponsors: list[Partner]
    because: list[tuple[Partner, Consent]]  # the consented sponsors that make it visible
    saved: bool = False
    redemptions: list[Redemption] = field(default_factory=list)


def offer_reasons(*, customer_id: str, at: datetime) -> dict[str, Consent]:
    """The sponsors this customer lets show it offers now, each with that consent: an active,
    unexpired ``offers`` consent to an active partner the customer is linked to. Checked by
    the consent rule itself (``consents_in_force``), one query."""
    linked = PartnerLink.objects.filter(
        customer_id=customer_id,
        partner_id=OuterRef("recipient_id"),
        status=PartnerLink.Status.ACTIVE,
    )
    consents = list(
        Consent.objects.select_related("source", "recipient", "partnership")
        .filter(
            customer_id=customer_id,
            purpose_id="offers",
            status=Consent.Status.ACTIVE,
            expires_at__gt=at,
        )
        .filter(Exists(linked))
        .order_by("recipient__name", "pk")
    )
    in_force = consents_in_force(consents, at=at)
    return {c.recipient_id: c for c in consents if c.pk in in_force}


def live_offers(at: datetime) -> QuerySet[Offer]:
    """Published offers inside their window whose lead and every named co-sponsor are active
    (a suspended sponsor's offers pause until it is reinstated)."""
    inactive_named = OfferSponsor.objects.filter(offer=OuterRef("pk"), status=S.ACCEPTED).exclude(
        partner__status=ACTIVE
    )
    return Offer.objects.filter(
        status=Offer.Status.PUBLISHED,
        starts_at__lte=at,
        ends_at__gt=at,
        lead__status=ACTIVE,
    ).exclude(Exists(inactive_named))


def offers_for_customer(*, customer_id: str, at: datetime | None = None) -> list[ShownOffer]:
    """The live offers this customer is eligible for now: one of its sponsors holds the
    customer's offers consent (computed on every read, never stored). Five queries whatever
    the number of offers and sponsors."""
    at = at or timezone.now()
    reasons = offer_reasons(customer_id=customer_id, at=at)
    if not reasons:
        return []
    by_consent = OfferSponsor.objects.filter(
        offer=OuterRef("pk"), status=S.ACCEPTED, partner_id__in=list(reasons)
    )
    offers = list(
        live_offers(at)
        .filter(Q(lead_id__in=list(reasons)) | Q(Exists(by_consent)))
        .select_related("lead", "reward_funder")
        .prefetch_related(_named_sponsors())
        .order_by("ends_at", "id")
    )
    ids = [o.pk for o in offers]
    saved = set(
        SavedOffer.objects.filter(customer_id=customer_id, offer_id__in=ids).values_list(
            "offer_id", flat=True
        )
    )
    redeemed: dict[str, list[Redemption]] = {}
    for row in Redemption.objects.filter(customer_id=customer_id, offer_id__in=ids).select_related(
        "partner"
    ):
        redeemed.setdefault(row.offer_id, []).append(row)
    shown = []
    for offer in offers:
        sponsors = [offer.lead] + [
            s.partner for s in offer.sponsors.all() if s.status == S.ACCEPTED
        ]
        because = [(p, reasons[p.pk]) for p in sponsors if p.pk in reasons]
        shown.append(
            ShownOffer(
                offer=offer,
                sponsors=sponsors,
                because=because,
                saved=offer.pk in saved,
                redemptions=redeemed.get(offer.pk, []),
            )
        )
    return shown


def customer_offer_visible(*, customer_id: str, offer_id: str) -> Offer | None:
    """The offer if this customer may see it now (save/unsave); None otherwise."""
    for shown in offers_for_customer(customer_id=customer_id):
        if shown.offer.pk == offer_id:
            return shown.offer
    return None


def redemptions_of_customer(*, customer_id: str) -> QuerySet[Redemption]:
    """Where and when the customer redeemed offers, newest first (the portal)."""
    return Redemption.objects.filter(customer_id=customer_id).select_related("offer", "partner")


def review_queue() -> QuerySet[Offer]:
    """Submitted offers, oldest first (the admin's review queue)."""
    return (
        Offer.objects.filter(status=Offer.Status.SUBMITTED)
        .select_related("lead", "reward_funder")
        .prefetch_related(_named_sponsors())
        .order_by("submitted_at", "id")
    )


def customer_has_offer_consent(*, customer_id: str) -> bool:
    """Whether the customer lets any brand show them offers now (an empty page then means
    "nothing live", not "you never asked")."""
    return bool(offer_reasons(customer_id=customer_id, at=timezone.now()))


def offer_requests_of(*, customer_id: str) -> QuerySet[Consent]:
    """Brands' requests to show the customer offers, waiting for an answer."""
    return (
        Consent.objects.filter(
            customer_id=customer_id, purpose_id="offers", status=Consent.Status.REQUESTED
        )
        .select_related("source")
        .order_by("source__name", "pk")
    )


def redemptions_by_offer(*, since: datetime) -> list[dict]:
    """For the ecosystem dashboard: per offer, the redemptions recorded since ``since``, the
    customers they came from and how many earned a reward; most redeemed first. One grouped
    query, whatever the number of redemptions. Counts only: no customer is named."""
    rows = (
        Redemption.objects.filter(created_at__gte=since)
        .values("offer_id", "offer__title", "offer__lead__name")
        .annotate(
            redeemed=Count("id"),
            customers=Count("customer_id", distinct=True),
            rewarded=Count("reward_id"),
        )
        .order_by("-redeemed", "offer__title", "offer_id")
    )
    return [
        {
            "offer_id": row["offer_id"],
            "title": row["offer__title"],
            "lead": row["offer__lead__name"],
            **{k: row[k] for k in ("redeemed", "customers", "rewarded")},
        }
        for row in rows
    ]
