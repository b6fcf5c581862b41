"""referral.converted rules: B pays A a fee when B converts A's referral, in the
conversion's transaction, under the referral consent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from consent.services.consents import consent_withdraw
from exchanges.rewards import ledger
from exchanges.rewards.models import Account, Reward, RewardRule
from tests.exchanges.rewards.conftest import convert

REFERRALS = "/api/v1/referrals"
pytestmark = pytest.mark.django_db


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
