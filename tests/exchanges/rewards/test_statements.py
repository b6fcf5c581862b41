"""Monthly settlement statements: written once at a month's close from the ledger's posted
transactions between two partners, never changed, read through the API (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from exchanges.rewards import ledger, services, settlement
from exchanges.rewards.models import (
    Account,
    Entry,
    LedgerTransaction,
    Reward,
    Statement,
    StatementLine,
)
from exchanges.rewards.tasks import statements_close_task
from tests.builders import make_api, make_partner
from tests.exchanges.rewards.conftest import convert, visits

pytestmark = pytest.mark.django_db
STATEMENTS = "/api/v1/statements"


def post_all(rewards: list[Reward]) -> str:
    """Post these rewards at their lock date; the period their postings are booked in (the
    month the ledger transactions are written, whatever the lock date)."""
    services.rewards_post_due(now=max(r.lock_at for r in rewards))
    booked = LedgerTransaction.objects.filter(kind="post").latest("created_at").created_at
    return services.period_of(booked)


def closing_time(period: str):
    return settlement.period_bounds(period)[1] + timedelta(hours=2)


def fees(fee, n: int) -> list[Reward]:
    for _ in range(n):
        convert(fee)
    return list(Reward.objects.filter(to_customer=False))


def direct_fees(fee, n: int) -> list[Reward]:
    """Fees issued by the service a conversion calls (the referrals API throttles a burst)."""
    made = []
    for i in range(n):
        with transaction.atomic():
            made += services.rewards_for_conversion(
                referral_id=f"ref_direct{i}",
                partnership_id=fee.partnership.pk,
                source_id=fee.gym.pk,
                recipient_id=fee.grocer.pk,
                customer_id=fee.ada.pk,
                consent_id=fee.consent.pk,
                value_amount=None,
                value_currency="",
            )
    return made


def test_a_months_statement_adds_up_to_the_ledger(fee):
    rewards = fees(fee, 3)
    period = post_all(rewards)
    services.reward_reverse(reward=rewards[0], actor=None, reason="Duplicate referral.")

    (statement,) = services.statements_close(period=period, now=closing_time(period))

    assert (statement.period, statement.unit, statement.line_count) == (period, "EUR", 4)
    # The grocer funds the fees: it owes the gym 3 x 2, less the reversed 2.
    assert {statement.partner_a_id, statement.partner_b_id} == {fee.gym.pk, fee.grocer.pk}
    assert (statement.debtor_id, statement.creditor_id) == (fee.grocer.pk, fee.gym.pk)
    assert statement.net_amount == Decimal("4.00")
    # What the gym's available EUR account gained from these transactions, per the entries.
    gym_entries = Entry.objects.filter(
        transaction__in=StatementLine.objects.values("transaction"),
        account__owner_ref=fee.gym.pk,
        account__kind=Account.Kind.AVAILABLE,
    )
    assert sum(e.amount for e in gym_entries) == statement.net_amount
    assert ledger.balances(ledger.Owner.partner(fee.gym.pk))[
        Account.Kind.AVAILABLE, "EUR"
    ] == Decimal("4.00")
    kinds = sorted(StatementLine.objects.values_list("kind", flat=True))
    assert kinds == ["post", "post", "post", "reversal"]
    reversal = StatementLine.objects.get(kind="reversal")
    assert (reversal.payer_id, reversal.payee_id) == (fee.gym.pk, fee.grocer.pk)
    assert settlement.statements_verify() == [] and ledger.ledger_verify() == []


def test_running_the_close_twice_gives_one_statement(fee):
    period = post_all(fees(fee, 2))
    at = closing_time(period)

    first = services.statements_close(period=period, now=at)
    again = services.statements_close(period=period, now=at)

    assert len(first) == 1 and again == []
    assert Statement.objects.count() == 1 and StatementLine.objects.count() == 2


def test_the_beat_task_settles_the_previous_month_only_after_the_grace(fee, monkeypatch):
    period = post_all(fees(fee, 1))
    end = settlement.period_bounds(period)[1]

    monkeypatch.setattr(services.timezone, "now", lambda: end + timedelta(minutes=30))
    assert services.previous_period() != period  # still inside the grace: not yet settled
    monkeypatch.setattr(services.timezone, "now", lambda: end + timedelta(hours=1, minutes=1))
    assert statements_close_task() == 1
    assert statements_close_task() == 0
    assert Statement.objects.get().period == period


def test_a_month_that_has_not_ended_is_not_settled(fee):
    period = post_all(fees(fee, 1))
    end = settlement.period_bounds(period)[1]

    with pytest.raises(services.PeriodOpen) as refused:
        services.statements_close(period=period, now=end + timedelta(minutes=59))
    assert refused.value.code == "period_open"
    assert not Statement.objects.exists()


def test_voided_fees_and_rewards_to_customers_are_not_settled(fee, world):
    voided, kept = fees(fee, 2)
    services.reward_void(reward=voided, actor=None, reason="Sent by mistake.")
    world.gym_api.post("/api/v1/activities", {"items": visits(world.ada_gym, 8)}, format="json")
    customer_reward = Reward.objects.get(to_customer=True)
    period = post_all([kept, customer_reward])
    assert Reward.objects.get(pk=customer_reward.pk).status == "posted"

    (statement,) = services.statements_close(period=period, now=closing_time(period))

    # The insurer funds Ada's EUR 5 off: owed to Ada, not to the gym. Only the fee settles.
    assert {statement.partner_a_id, statement.partner_b_id} == {fee.gym.pk, fee.grocer.pk}
    assert list(StatementLine.objects.values_list("reward_id", flat=True)) == [kept.pk]
    assert settlement.statements_verify() == []


def test_ledger_verify_names_a_statement_that_no_longer_equals_the_ledger(fee):
    first, _later = sorted(fees(fee, 2), key=lambda r: r.lock_at)
    period = post_all([first])
    services.statements_close(period=period, now=closing_time(period))
    # A posting stamped inside the closed month after its close (a clock gone wrong).
    services.rewards_post_due(now=settlement.period_bounds(period)[1] - timedelta(seconds=1))

    problems = settlement.statements_verify()

    assert len(problems) == 1 and "its lines differ from the ledger" in problems[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_postgresql_refuses_to_change_or_delete_a_statement(fee):
    period = post_all(fees(fee, 1))
    (statement,) = services.statements_close(period=period, now=closing_time(period))

    for sql in (
        "UPDATE rewards_statement SET net_amount = 0 WHERE id = %s",
        "DELETE FROM rewards_statementline WHERE statement_id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="never updated or deleted"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [statement.pk])
    assert Statement.objects.get().net_amount == Decimal("2.00")


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def closed(fee):
    rewards = fees(fee, 3)
    period = post_all(rewards)
    (statement,) = services.statements_close(period=period, now=closing_time(period))
    fee.statement, fee.period = statement, period
    fee.gym_reader = make_api(fee.gym, scopes="rewards:read")
    fee.grocer_reader = make_api(fee.grocer, scopes="rewards:read")
    return fee


def test_each_party_reads_the_statement_from_its_own_side(closed):
    gym = closed.gym_reader.get(STATEMENTS).json()["results"]
    grocer = closed.grocer_reader.get(STATEMENTS).json()["results"]

    assert [row["id"] for row in gym] == [row["id"] for row in grocer] == [closed.statement.pk]
    assert gym[0]["counterparty"] == {"id": closed.grocer.pk, "name": "Fresh Basket"}
    assert gym[0]["direction"] == "owed_to_you" and grocer[0]["direction"] == "you_owe"
    six = {"amount": "6.00", "currency": "EUR"}
    assert gym[0]["paid_to_you"] == grocer[0]["paid_by_you"] == gym[0]["net"] == six
    assert gym[0]["paid_by_you"] == {"amount": "0.00", "currency": "EUR"}
    assert (gym[0]["debtor"], gym[0]["creditor"]) == (closed.grocer.pk, closed.gym.pk)

    detail = closed.gym_reader.get(f"{STATEMENTS}/{closed.statement.pk}").json()
    assert len(detail["lines"]) == 3
    line = detail["lines"][0]
    assert line["kind"] == "post" and line["direction"] == "to_you"
    assert line["amount"] == {"amount": "2.00", "currency": "EUR"}
    assert line["trigger"].startswith("ref_") and line["rule_id"] == closed.rule.pk
    assert {ln["transaction_id"] for ln in detail["lines"]} == set(
        StatementLine.objects.values_list("transaction_id", flat=True)
    )


def test_filters_by_period_and_counterparty(closed):
    api = closed.gym_reader

    assert len(api.get(STATEMENTS, {"period": closed.period}).json()["results"]) == 1
    assert api.get(STATEMENTS, {"period": "1999-01"}).json()["results"] == []
    assert len(api.get(STATEMENTS, {"counterparty": closed.grocer.pk}).json()["results"]) == 1
    assert api.get(STATEMENTS, {"counterparty": closed.gym.pk}).json()["results"] == []
    bad = api.get(STATEMENTS, {"period": "2026-13"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"


def test_the_csv_form_by_accept_header_or_format_parameter(closed):
    url = f"{STATEMENTS}/{closed.statement.pk}"

    by_header = closed.grocer_reader.get(url, HTTP_ACCEPT="text/csv")
    by_param = closed.grocer_reader.get(url, {"format": "csv"})

    assert by_header.status_code == 200 and by_header["Content-Type"].startswith("text/csv")
    assert by_header.content == by_param.content
    assert f'filename="{closed.statement.pk}.csv"' in by_header["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(by_header.content.decode())))
    assert len(rows) == 3
    assert {row["direction"] for row in rows} == {"from_you"}
    assert {(row["payer"], row["payee"], row["amount"]) for row in rows} == {
        (closed.grocer.pk, closed.gym.pk, "2.00")
    }
    assert sum(Decimal(row["amount"]) for row in rows) == closed.statement.net_amount


def test_another_partners_statement_is_404_in_json_and_csv(closed):
    other = make_api(make_partner(), scopes="rewards:read")
    url = f"{STATEMENTS}/{closed.statement.pk}"

    assert other.get(STATEMENTS).json()["results"] == []
    for response in (other.get(url), other.get(url, HTTP_ACCEPT="text/csv")):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


def test_reading_statements_needs_the_rewards_read_scope(closed):
    api = make_api(closed.gym, scopes="partner:read")
    assert api.get(STATEMENTS).json()["code"] == "insufficient_scope"
    assert api.get(f"{STATEMENTS}/{closed.statement.pk}").json()["code"] == "insufficient_scope"


@pytest.mark.parametrize("lines", [1, 6])
def test_statement_queries_are_pinned_and_flat_in_the_lines(
    fee, lines, django_assert_max_num_queries
):
    period = post_all(direct_fees(fee, lines))
    (statement,) = services.statements_close(period=period, now=closing_time(period))
    api = make_api(fee.gym, scopes="rewards:read")
    url = f"{STATEMENTS}/{statement.pk}"
    api.get(STATEMENTS)  # warm the token cache

    with django_assert_max_num_queries(1):
        assert len(api.get(STATEMENTS).json()["results"]) == 1
    with django_assert_max_num_queries(2):
        assert len(api.get(url).json()["lines"]) == lines
    with django_assert_max_num_queries(2):
        assert api.get(url, {"format": "csv"}).content.count(b"\r\n") == lines + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgresql")
def test_closes_running_at_once_write_one_statement(fee):
    from tests.exchanges.rewards.test_reward_races import run_together

    period = post_all(fees(fee, 2))
    at = closing_time(period)

    outcomes = run_together(
        [lambda: len(services.statements_close(period=period, now=at)) for _ in range(4)]
    )

    assert sorted(outcomes) == [("ok", 0), ("ok", 0), ("ok", 0), ("ok", 1)]
    assert Statement.objects.count() == 1 and StatementLine.objects.count() == 2
    assert settlement.statements_verify() == []
