"""The offers of the demo ecosystem (ecosystem/demo.py calls ``offers_seed`` once): a
published offer of Fresh Basket co-sponsored by Pulse Fitness, with a reward funded by Pulse
(EUR 2 per redemption), Pulse's own published offer, a draft, one awaiting approval, and
Ada's saved and redeemed offers (the co-sponsored one's reward in her rewards)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from consent.models import Consent, PartnerLink
from consent.services.consents import consent_grant
from exchanges.offers import services
from exchanges.offers.models import Offer
from partners.models import Partner, Purpose


def _offer(lead: Partner, co: list[Partner], *, days: int = 60, **fields: Any) -> Offer:
    now = timezone.now()
    return services.offer_create(
        partner_id=lead.pk,
        actor="demo",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=days),
        co_sponsors=[p.pk for p in co],
        **fields,
    )


def _accepted(offer: Offer, co: list[Partner]) -> None:
    for partner in co:
        services.offer_cosponsor_answer(
            offer_id=offer.pk, partner_id=partner.pk, actor="demo", accept=True
        )


def offers_seed(partners: dict[str, Partner], customers: list, created: list[str]) -> None:
    if Offer.objects.exists():
        return
    ada = customers[0]
    gym, insurer, grocer = (partners[s] for s in ("pulse-fitness", "harbor-mutual", "fresh-basket"))
    if not Consent.objects.filter(
        customer=ada, purpose_id="offers", recipient=gym, status__in=["requested", "active"]
    ).exists():
        consent_grant(
            customer=ada,
            purpose=Purpose.objects.get(pk="offers"),
            source_id=gym.pk,
            recipient_id=gym.pk,
            data_categories=[],
        )
    shared = _offer(
        grocer,
        [gym],
        title="10 % off organic produce for Pulse Fitness members",
        body="<p>Show your <strong>Pulse Fitness</strong> membership at any Fresh Basket "
        "till and get 10 % off organic fruit and vegetables.</p>",
        terms="Up to twice per customer. Not combinable with other discounts.",
        cap_total=500,
        cap_per_customer=2,
        reward=services.OfferReward(gym.pk, Decimal("2.00"), "EUR"),
    )
    _accepted(shared, [gym])
    services.offer_submit(offer_id=shared.pk, partner_id=grocer.pk, actor="demo")
    shared = services.offer_approve(offer_id=shared.pk, actor="demo")
    smoothie = _offer(
        gym,
        [],
        title="A free smoothie after your tenth class",
        body="<p>Ten classes this month? Your next smoothie at the Pulse bar is on us.</p>",
        cap_per_customer=1,
    )
    services.offer_submit(offer_id=smoothie.pk, partner_id=gym.pk, actor="demo")
    smoothie = services.offer_approve(offer_id=smoothie.pk, actor="demo")
    _offer(
        gym,
        [],
        title="Bring a friend week",
        body="<p>Your friend trains with you for free for a week.</p>",
    )
    check = _offer(
        insurer,
        [gym],
        title="A free health check after 20 gym visits",
        body="<p>Twenty visits at Pulse Fitness earn you a free health check with Harbor "
        "Mutual.</p>",
        terms="Harbor Mutual policy holders only.",
        days=90,
    )
    _accepted(check, [gym])
    services.offer_submit(offer_id=check.pk, partner_id=insurer.pk, actor="demo")
    services.offer_save(customer=ada, offer_id=shared.pk)
    ada_at_gym = PartnerLink.objects.get(customer=ada, partner=gym)
    ada_at_grocer = PartnerLink.objects.get(customer=ada, partner=grocer)
    services.redemption_create(
        offer=shared,
        partner_id=grocer.pk,
        client_id="demo",
        customer_id=ada_at_grocer.pk,
        external_id="demo-till-0001",
    )
    services.redemption_create(
        offer=smoothie,
        partner_id=gym.pk,
        client_id="demo",
        customer_id=ada_at_gym.pk,
        external_id="demo-bar-0001",
    )
    created.append("demo offers")
