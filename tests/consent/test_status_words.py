"""Every status a customer sees is said in their words, never in the API's (issue 22, 4)."""

from __future__ import annotations

import pytest

from consent import wording
from consent.models import Consent, PartnerLink
from consent.services.consents import consent_grant, consent_withdraw
from exchanges.referrals.models import Referral
from exchanges.rewards.models import Reward
from exchanges.rewards.wording import reward_status
from partners.models import Purpose


@pytest.mark.parametrize("status", Consent.Status.values)
def test_every_consent_status_has_customer_words(status):
    assert status in wording.CONSENT_STATUS
    assert wording.consent_status(status) != status


@pytest.mark.parametrize("status", PartnerLink.Status.values)
def test_every_link_status_has_customer_words(status):
    assert status in wording.LINK_STATUS and wording.link_status(status) != status


@pytest.mark.parametrize("status", Referral.Status.values)
def test_every_referral_status_has_customer_words_naming_the_brand(status):
    assert status in wording.REFERRAL_STATUS
    assert "Fresh Basket" in wording.referral_status(status, "Fresh Basket")


@pytest.mark.parametrize("status", Reward.Status.values)
def test_every_reward_status_has_customer_words(status):
    assert reward_status(status) not in (status, status.capitalize())


def test_converted_reads_as_becoming_a_customer_of_the_brand():
    assert wording.referral_status("converted", "Fresh Basket") == (
        "You became a customer of Fresh Basket"
    )


def test_an_unknown_status_is_shown_as_it_is_rather_than_failing():
    assert wording.consent_status("paused") == "paused"
    assert wording.referral_status("paused", "Fresh Basket") == "paused"


def test_the_export_summary_says_statuses_in_customer_words(portal):
    # Given: one consent withdrawn and one given.
    def grant():
        return consent_grant(
            customer=portal.customer,
            purpose=Purpose.objects.get(pk="rewards"),
            source_id=portal.source.pk,
            recipient_id=portal.recipient.pk,
            data_categories=["activity.visits"],
        )

    consent_withdraw(consent=grant(), customer=portal.customer)
    grant()

    # When: Ada reads the summary of her data.
    page = portal.client.get("/my-data/summary/").content.decode()

    # Then: the consents and links read in her words, not the API's status names.
    assert "You withdrew it." in page and "Given by you, in force" in page
    assert "Pulse Fitness: linked" in page and "Harbor Mutual: linked" in page
    assert "Withdrawn." not in page and ": active" not in page
