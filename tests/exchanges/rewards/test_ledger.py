"""The ledger: balanced, immutable, derived balances; a reward's life in transactions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from consent.services.consents import consent_withdraw
from exchanges.rewards import ledger, services
from exchanges.rewards.ledger import Leg, Owner, UnbalancedTransaction
from exchanges.rewards.models import Account, Entry, LedgerTransaction, Reward
from exchanges.rewards.money import as_wire, is_currency, quantize
from tests.exchanges.rewards.conftest import visits

URL = "/api/v1/activities"
P, A = Account.Kind.PENDING, Account.Kind.AVAILABLE


def earn(world, n: int = 8, prefix: str = "v") -> Reward:
    world.gym_api.post(URL, {"items": visits(world.ada_gym, n, prefix=prefix)}, format="json")
    return Reward.objects.filter(customer=world.ada).latest("issued_at")


def sums_per_transaction() -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = {}
    for entry in Entry.objects.all():
        key = (entry.transaction_id, entry.unit)
        totals[key] = totals.get(key, Decimal(0)) + entry.amount
    return totals


@pytest.mark.django_db
def test_an_issued_reward_is_one_balanced_transaction_and_balances_derive_from_entries(world):
    reward = earn(world)

    (txn,) = LedgerTransaction.objects.filter(reward=reward)
    assert (txn.kind, txn.rule_id, txn.trigger_ref, txn.consent_id) == (
        "issue",
        world.rule.pk,
        reward.period,
        world.consent.pk,
    )
    assert txn.id.startswith("txn_")
    assert set(sums_per_transaction().values()) == {Decimal(0)}
    assert ledger.balances(Owner.customer(world.ada.pk)) == {(P, "EUR"): Decimal("5.00")}
    assert ledger.balances(Owner.partner(world.insurer.pk)) == {(P, "EUR"): Decimal("-5.00")}


@pytest.mark.django_db
def test_pending_then_posted_at_the_lock_date_then_reversed(world):
    reward = earn(world)
    assert services.rewards_post_due() == 0  # not yet

    assert services.rewards_post_due(now=reward.lock_at + timedelta(seconds=1)) == 1
    reward.refresh_from_db()
    assert reward.status == "posted"
    assert ledger.balances(Owner.customer(world.ada.pk)) == {
        (P, "EUR"): Decimal(0),
        (A, "EUR"): Decimal("5.00"),
    }

    services.reward_reverse(reward=reward, actor="admin:1", reason="Visits were test data.")
    reward.refresh_from_db()
    assert reward.status == "reversed"
    kinds = list(reward.transactions.order_by("created_at").values_list("kind", flat=True))
    assert kinds == ["issue", "post", "reversal"]
    reversal = reward.transactions.get(kind="reversal")
    assert reversal.reverses.kind == "post"
    assert ledger.balances(Owner.customer(world.ada.pk))[A, "EUR"] == 0
    assert set(sums_per_transaction().values()) == {Decimal(0)}


@pytest.mark.django_db
def test_a_pending_reward_cannot_be_reversed_and_a_posted_one_cannot_be_voided(world):
    reward = earn(world)
    with pytest.raises(services.RewardTransitionError):
        services.reward_reverse(reward=reward, actor=None, reason="no")
    services.rewards_post_due(now=reward.lock_at)
    with pytest.raises(services.RewardTransitionError):
        services.reward_void(reward=reward, actor=None, reason="no")
    assert reward.transactions.count() == 2


@pytest.mark.django_db
def test_withdrawing_the_consent_voids_pending_rewards_and_leaves_posted_ones(world):
    posted = earn(world, prefix="a")
    services.rewards_post_due(now=posted.lock_at)
    world.rule.cap_per_period = 2
    world.rule.save(update_fields=["cap_per_period"])
    pending = earn(world, prefix="b")
    assert pending.pk != posted.pk

    consent_withdraw(consent=world.consent, customer=world.ada)

    posted.refresh_from_db()
    pending.refresh_from_db()
    assert (posted.status, pending.status) == ("posted", "voided")
    assert "withdrawn" in pending.reason
    assert ledger.balances(Owner.customer(world.ada.pk)) == {
        (P, "EUR"): Decimal(0),
        (A, "EUR"): Decimal("5.00"),
    }


@pytest.mark.django_db
def test_the_service_refuses_an_unbalanced_transaction(world):
    reward = earn(world)
    plan = ledger.plan(reward, "post")
    plan.legs = [
        Leg(Owner.partner(world.insurer.pk), A, "EUR", Decimal("-5")),
        Leg(Owner.customer(world.ada.pk), A, "EUR", Decimal("4.99")),
    ]
    with pytest.raises(UnbalancedTransaction):
        ledger.ledger_write([plan])
    plan.legs = [
        Leg(Owner.partner(world.insurer.pk), A, "EUR", Decimal("-5")),
        Leg(Owner.customer(world.ada.pk), A, "harbor-points", Decimal("5")),
    ]
    with pytest.raises(UnbalancedTransaction):  # units do not offset each other
        ledger.ledger_write([plan])
    assert LedgerTransaction.objects.count() == 1


@pytest.mark.django_db
def test_a_trigger_written_twice_is_refused_by_the_unique_key(world):
    reward = earn(world)
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger.ledger_write([ledger.plan(reward, "issue")])


def test_money_comes_from_a_maintained_currency_list():
    assert is_currency("EUR") and is_currency("JPY")
    assert not is_currency("EUX") and not is_currency("eur")
    assert quantize(Decimal("2.345"), "EUR") == Decimal("2.34")  # banker's rounding
    assert quantize(Decimal("2.5"), "JPY") == Decimal("2")
    assert as_wire(Decimal("5"), "EUR") == {"amount": "5.00", "currency": "EUR"}
    assert as_wire(Decimal("100"), "harbor-points") == {"amount": "100", "points": "harbor-points"}


# --- the database's own guard (PostgreSQL) ---------------------------------------------------


def _raw_entry(txn_id: str, account_id: int, amount: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO rewards_entry (transaction_id, account_id, amount, unit)"
            " VALUES (%s, %s, %s, 'EUR')",
            [txn_id, account_id, amount],
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_postgresql_refuses_a_hand_made_unbalanced_transaction(world):
    reward = earn(world)
    issue = reward.transactions.get()
    accounts = list(Account.objects.filter(unit="EUR").values_list("pk", flat=True))

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        row = LedgerTransaction.objects.create(
            kind="post",
            key="hand-made",
            reward=reward,
            rule=world.rule,
            trigger_ref=reward.trigger_ref,
            consent=world.consent,
        )
        _raw_entry(row.pk, accounts[0], "-5.00")
        _raw_entry(row.pk, accounts[1], "4.00")

    with pytest.raises(IntegrityError, match="fewer than two"), transaction.atomic():
        LedgerTransaction.objects.create(
            kind="post",
            key="no-entries",
            reward=reward,
            rule=world.rule,
            trigger_ref=reward.trigger_ref,
            consent=world.consent,
        )

    assert list(LedgerTransaction.objects.values_list("pk", flat=True)) == [issue.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_postgresql_refuses_to_update_or_delete_ledger_rows(world):
    reward = earn(world)
    entry = Entry.objects.filter(transaction__reward=reward).first()

    with pytest.raises(IntegrityError, match="never updated"), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).update(amount=Decimal("1"))
    with pytest.raises(IntegrityError, match="never updated"), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).delete()
    with (
        pytest.raises(IntegrityError, match="never updated"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM rewards_transaction WHERE reward_id = %s", [reward.pk])

    entry.refresh_from_db()
    assert entry.amount in (Decimal("5"), Decimal("-5"))
    assert reward.transactions.count() == 1


def _pending_rewards(world, count: int) -> list[Reward]:
    world.rule.cap_per_period = count
    world.rule.save(update_fields=["cap_per_period"])
    threshold = world.rule.threshold or 1
    world.gym_api.post(URL, {"items": visits(world.ada_gym, count * threshold)}, format="json")
    rewards = list(Reward.objects.filter(status="pending"))
    assert len(rewards) == count
    return rewards


@pytest.mark.django_db
def test_the_posting_job_writes_one_ledger_batch_and_pins_its_queries(
    world, django_assert_max_num_queries
):
    """Per reward: its status save and audit row, and its webhook event; the rest is fixed."""
    rewards = _pending_rewards(world, 4)
    after = max(reward.lock_at for reward in rewards) + timedelta(seconds=1)

    with django_assert_max_num_queries(POSTING_QUERIES):
        assert services.rewards_post_due(now=after) == 4

    assert set(Reward.objects.values_list("status", flat=True)) == {"posted"}
    assert LedgerTransaction.objects.filter(kind="post").count() == 4
    assert set(sums_per_transaction().values()) == {Decimal(0)}


# Four rewards: 29 queries (38 while each reward wrote its own ledger transaction).
POSTING_QUERIES = 29
