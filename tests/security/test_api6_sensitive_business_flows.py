"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows.

A flow that is harmless once becomes harmful automated: flooding customers with invitations
or consent requests, re-asking the moment a customer refused, firing referrals at one
customer, or using a refusal's answer as an oracle about data the customer withheld. Each
flow here has a business limit with a stable problem code, counted before the check that
could leak.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from consent.services.consents import consent_grant
from partners.models import Purpose
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

REFERRALS = "/api/v1/referrals"


@pytest.fixture
def ref(db):
    """A gym that may refer a customer to a grocer with name and email; the customer agreed
    to their email only (the name is withheld)."""

    class Ref:
        pass

    r = Ref()
    r.gym, r.grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    make_partnership(
        r.gym, r.grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    r.customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    r.gym_link = make_link(r.customer, r.gym)
    consent_grant(
        customer=r.customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=r.gym.pk,
        recipient_id=r.grocer.pk,
        data_categories=["contact.email"],
    )
    r.gym_api = make_api(r.gym)
    return r


def _refer(r, note: str):
    body = {"customer_id": r.gym_link.pk, "to_partner": r.grocer.pk, "note": note}
    return r.gym_api.post(REFERRALS, body, format="json")


def test_refused_notes_count_against_the_referral_limit_so_they_cannot_probe_the_name(
    ref, settings
):
    """Before: the note check ran before the rate limit and refusals were never counted, so
    a sender could guess the withheld name word by word without limit."""
    settings.REFERRAL_LIMIT_PER_CUSTOMER = 3
    guesses = ["Ada", "Lovelace", "ADA", "Grace", "Hopper", "Ada"]

    answers = [_refer(ref, f"{guess} likes cooking") for guess in guesses]

    codes = [answer.json()["code"] for answer in answers]
    assert codes[:3] == ["note_reveals_customer_data"] * 3
    assert codes[3:] == ["referral_limit_reached"] * 3  # no more answers about the name
    assert all(answer.status_code == 429 for answer in answers[3:])
    assert not ref.gym_api.get(REFERRALS).json()["results"]  # and nothing was sent


def test_the_limit_is_checked_before_the_note(ref, settings):
    settings.REFERRAL_LIMIT_PER_CUSTOMER = 1
    assert _refer(ref, "Keen cook").status_code == 201

    answer = _refer(ref, "Ada is a keen cook")  # would be note_reveals_customer_data

    assert answer.status_code == 429 and answer.json()["code"] == "referral_limit_reached"
    cache.clear()


# --- consent requests -----------------------------------------------------------------------

REQUESTS = "/api/v1/consent-requests"


@pytest.fixture
def asking(db):
    """A gym with a rewards flow to an insurer, and a linked customer."""

    class Asking:
        pass

    a = Asking()
    a.gym, a.insurer = make_partner(name="Pulse Fitness"), make_partner(name="Harbor Mutual")
    make_partnership(a.gym, a.insurer)
    a.customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    a.link = make_link(a.customer, a.gym)
    a.api = make_api(a.gym)
    return a


def _ask(a, purpose="rewards", **fields):
    body = {
        "customer_id": a.link.pk,
        "recipient": a.insurer.pk,
        "purpose": purpose,
        "data_categories": ["activity.visits"],
        "message": "Get rewarded for your visits.",
        **fields,
    }
    return a.api.post(REQUESTS, body, format="json")


def _refuse(a, consent_id):
    from consent.models import Consent
    from consent.services.consents import consent_request_refuse

    consent_request_refuse(consent=Consent.objects.get(pk=consent_id), customer=a.customer)


def test_a_refused_consent_request_cannot_be_sent_again_at_once(asking, settings):
    """Before: a refused request could be re-sent at once, nagging the customer."""
    settings.CONSENT_REQUEST_COOLDOWN_HOURS = 48
    first = _ask(asking)
    assert first.status_code == 201, first.content
    _refuse(asking, first.json()["id"])

    again = _ask(asking)

    assert again.status_code == 429
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["code"] == "consent_request_cooldown"
    assert 47 * 3600 < int(again["Retry-After"]) <= 48 * 3600
    from consent.models import Consent

    assert Consent.objects.filter(customer=asking.customer).count() == 1  # nothing new


def test_the_cooldown_ends_after_the_configured_hours(asking, settings):
    from datetime import timedelta

    from consent.models import Consent

    settings.CONSENT_REQUEST_COOLDOWN_HOURS = 48
    first = _ask(asking).json()["id"]
    _refuse(asking, first)
    refused = Consent.objects.get(pk=first)
    Consent.objects.filter(pk=first).update(ended_at=refused.ended_at - timedelta(hours=48))

    assert _ask(asking).status_code == 201


def test_the_cooldown_is_per_purpose_and_can_be_turned_off(asking, settings):
    settings.CONSENT_REQUEST_COOLDOWN_HOURS = 48
    _refuse(asking, _ask(asking).json()["id"])

    other_purpose = _ask(asking, purpose="link", recipient=asking.gym.pk, data_categories=[])
    assert other_purpose.status_code == 201, other_purpose.content

    settings.CONSENT_REQUEST_COOLDOWN_HOURS = 0
    assert _ask(asking).status_code == 201
