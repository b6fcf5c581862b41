"""A small offers world: Fresh Basket leads, Pulse Fitness co-sponsors, Ada consented to
Pulse's offers, Ben did not, and a stranger brand is linked to Ada too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from exchanges.offers import services
from exchanges.offers.models import Offer
from tests.builders import (
    make_api,
    make_consent,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
)


@dataclass
class World:
    grocer: Any
    gym: Any
    stranger: Any
    ada: Any
    ben: Any
    links: dict
    consent: Any


def make_world() -> World:
    grocer = make_partner(name="Fresh Basket", sector="grocery")
    gym = make_partner(name="Pulse Fitness", sector="fitness")
    stranger = make_partner(name="Stranger Bank", sector="banking")
    make_partnership(gym, grocer, purpose="referral", categories=("contact.email",))
    ada, ben = make_customer(name="Ada"), make_customer(name="Ben")
    links = {}
    for who, customer in (("ada", ada), ("ben", ben)):
        for name, partner in (("grocer", grocer), ("gym", gym), ("stranger", stranger)):
            links[who, name] = make_link(customer, partner)
    consent = make_consent(ada, gym, purpose="offers", categories=())
    return World(grocer, gym, stranger, ada, ben, links, consent)


def window(days: int = 30) -> dict[str, Any]:
    now = timezone.now()
    return {"starts_at": now - timedelta(minutes=5), "ends_at": now + timedelta(days=days)}


def draft(world: World, **fields: Any) -> Offer:
    values = {
        "title": "10 % off organic produce",
        "body": "<p>For <strong>Pulse Fitness</strong> members.</p>",
        "terms": "Once per customer.",
        "co_sponsors": [world.gym.pk],
        **window(),
        **fields,
    }
    return services.offer_create(partner_id=world.grocer.pk, actor="test", **values)


def published(world: World, **fields: Any) -> Offer:
    """A co-sponsored offer, accepted, submitted, approved (and so published)."""
    offer = draft(world, **fields)
    for sponsor in offer.sponsors.all():
        services.offer_cosponsor_answer(
            offer_id=offer.pk, partner_id=sponsor.partner_id, actor="test", accept=True
        )
    services.offer_submit(offer_id=offer.pk, partner_id=world.grocer.pk, actor="test")
    return services.offer_approve(offer_id=offer.pk, actor="admin")


def api(partner, scopes: str | None = None):
    return make_api(partner, scopes=scopes)
