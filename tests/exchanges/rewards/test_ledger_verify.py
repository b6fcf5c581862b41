"""manage.py ledger_verify: passes on a ledger the services wrote, names the first
inconsistency and exits 1 otherwise."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from exchanges.rewards import services
from exchanges.rewards.ledger import ledger_verify
from exchanges.rewards.models import Entry, Reward
from tests.exchanges.rewards.conftest import visits

pytestmark = pytest.mark.django_db


def earn(world, prefix: str) -> Reward:
    items = visits(world.ada_gym, 8, prefix=prefix)
    world.gym_api.post("/api/v1/activities", {"items": items}, format="json")
    return Reward.objects.latest("issued_at")


@pytest.fixture
def history(world):
    """Rewards in every state: pending, posted, voided, reversed."""
    world.rule.cap_per_period = 4
    world.rule.save(update_fields=["cap_per_period"])
    _posted, reversed_, voided = earn(world, "a"), earn(world, "b"), earn(world, "c")
    services.rewards_post_due(now=voided.lock_at)
    services.reward_reverse(reward=reversed_, actor=None, reason="Correction.")
    services.reward_void(reward=earn(world, "d"), actor=None, reason="Test data.")
    return world


def test_a_ledger_the_services_wrote_verifies(history, capsys):
    assert sorted(Reward.objects.values_list("status", flat=True)) == [
        "posted",
        "posted",
        "reversed",
        "voided",
    ]
    call_command("ledger_verify")
    assert "consistent" in capsys.readouterr().out


def test_a_status_that_does_not_match_the_transactions_is_named(history):
    reward = Reward.objects.filter(status="voided").get()
    Reward.objects.filter(pk=reward.pk).update(status="posted")

    with pytest.raises(CommandError, match=f"reward {reward.pk}: posted, but its transactions"):
        call_command("ledger_verify")


def test_a_reward_whose_amount_differs_from_its_entries_is_named(history):
    reward = Reward.objects.filter(status="reversed").get()
    Reward.objects.filter(pk=reward.pk).update(amount=Decimal("50"))
    assert any(f"reward {reward.pk}: transaction" in p for p in ledger_verify())


def test_an_unbalanced_transaction_is_named(history):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's own triggers refuse the tampering (test_ledger.py)")
    entry = Entry.objects.order_by("id").first()
    Entry.objects.filter(pk=entry.pk).update(amount=entry.amount + 1)

    problems = ledger_verify()
    assert problems[0] == f"transaction {entry.transaction_id}: sums to 1.0000 EUR, not zero"
