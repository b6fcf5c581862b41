"""Shared set-up of the OWASP API Security Top 10 (2023) modules: one module per risk."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from partners.oauth import token_cache


@pytest.fixture(autouse=True)
def _fresh_counters():
    """Throttles count in the shared cache: every test starts from zero."""
    cache.clear()
    token_cache.local_tier.clear()
    yield
    cache.clear()
    token_cache.local_tier.clear()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # Brute-force tests sign in dozens of times; PBKDF2 would make each attempt slow.
    # The others stay: client secrets have a hasher of their own.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


PUBLIC = "93.184.216.34"


@pytest.fixture
def public_dns(monkeypatch):
    """Every host name resolves to one public address (the SSRF guard's DNS seam)."""
    from ecosystem import ssrf

    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [PUBLIC])


@pytest.fixture
def world(db, public_dns):
    """A gym that may refer customers to a grocer (name, email, phone may flow); a customer
    linked to the gym who consented to the referral with their email only; an API client
    with every scope for each brand; a referral already sent."""
    from consent.services.consents import consent_grant
    from exchanges.referrals.services import referral_create
    from partners.models import Purpose
    from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

    class World:
        pass

    w = World()
    w.gym, w.grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    w.partnership = make_partnership(
        w.gym,
        w.grocer,
        purpose="referral",
        categories=("contact.name", "contact.email", "contact.phone"),
    )
    w.customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    w.gym_link = make_link(w.customer, w.gym)
    w.consent = consent_grant(
        customer=w.customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=w.gym.pk,
        recipient_id=w.grocer.pk,
        data_categories=["contact.email"],
    )
    w.gym_api, w.grocer_api = make_api(w.gym), make_api(w.grocer)
    w.referral = referral_create(
        from_partner_id=w.gym.pk,
        client_id=w.gym_api.client_id,
        customer_id=w.gym_link.pk,
        to_partner_id=w.grocer.pk,
        note="Keen cook",
    )
    return w
