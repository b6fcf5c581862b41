"""referral.converted rules: B pays A a fee when B converts A's referral, in the
conversion's transaction, under the referral consent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from consent.services.consents import consent_grant, consent_withdraw
from exchanges.rewards import ledger
from exchanges.rewards.models import Account, Reward, RewardRule
from partners.models import Purpose
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership
from tests.exchanges.rewards.conftest import make_rule

REFERRALS = "/api/v1/referrals"
pytestmark = pytest.mark.django_db


@pytest.fixture
def fee(activity_types):
    class Fee:
        pass

    f = Fee()
    f.gym, f.grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    f.partnership = make_partnership(
        f.gym, f.grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    f.rule = make_rule(
        f.partnership,
        name="EUR 2 per converted referral",
        trigger=RewardRule.Trigger.REFERRAL_CONVERTED,
        activity_type=None,
        threshold=None,
        amount=Decimal("2.00"),
        source=f.gym,
        recipient=f.grocer,
        funder=f.grocer,
    )
    f.ada = make_customer(name="Ada Lovelace")
    f.ada_gym = make_link(f.ada, f.gym)
    f.consent = consent_grant(
        customer=f.ada,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=f.gym.pk,
        recipient_id=f.grocer.pk,
        data_categories=["contact.email"],
    )
    f.gym_api, f.grocer_api = make_api(f.gym), make_api(f.grocer)
    return f


def convert(f, value=None):
    body = {"customer_id": f.ada_gym.pk, "to_partner": f.grocer.pk}
    referral_id = f.gym_api.post(REFERRALS, body, format="json").json()["id"]
    f.grocer_api.post(f"{REFERRALS}/{referral_id}/accept", {}, format="json")
    response = f.grocer_api.post(
        f"{REFERRALS}/{referral_id}/convert", {"value": value} if value else {}, format="json"
    )
    assert response.status_code == 200, response.content
    return referral_id


def test_a_converted_referral_gives_the_referrer_its_fee_paid_by_the_recipient(fee):
    referral_id = convert(fee)

    (reward,) = Reward.objects.all()
    assert (reward.trigger_ref, reward.funder_id, reward.receiver_id, reward.to_customer) == (
        referral_id,
        fee.grocer.pk,
        fee.gym.pk,
        False,
    )
    assert (reward.amount, reward.unit, reward.status) == (Decimal("2.00"), "EUR", "pending")
    assert reward.consent_id == fee.consent.pk
    pending = Account.Kind.PENDING
    assert ledger.balances(ledger.Owner.partner(fee.gym.pk)) == {(pending, "EUR"): Decimal(2)}
    assert ledger.balances(ledger.Owner.partner(fee.grocer.pk)) == {(pending, "EUR"): Decimal(-2)}


def test_a_percentage_fee_is_of_the_conversion_value_in_the_rules_currency(fee):
    fee.rule.basis, fee.rule.amount = RewardRule.Basis.PERCENTAGE, Decimal("10")
    fee.rule.save(update_fields=["basis", "amount"])

    convert(fee, {"amount": "12.55", "currency": "EUR"})
    (reward,) = Reward.objects.all()
    assert reward.amount == Decimal("1.26")  # 1.255, banker's rounding to the cent


def test_a_percentage_fee_without_a_value_in_its_currency_gives_nothing(fee):
    fee.rule.basis, fee.rule.amount = RewardRule.Basis.PERCENTAGE, Decimal("10")
    fee.rule.save(update_fields=["basis", "amount"])

    convert(fee, {"amount": "12.50", "currency": "GBP"})
    assert not Reward.objects.exists()


def test_withdrawing_the_referral_consent_voids_the_pending_fee(fee):
    convert(fee)
    consent_withdraw(consent=fee.consent, customer=fee.ada)
    assert Reward.objects.get().status == "voided"


def test_no_rule_no_fee(fee):
    fee.rule.active = False
    fee.rule.save(update_fields=["active"])
    convert(fee)
    assert not Reward.objects.exists()
