"""The ecosystem dashboard's rewards and offers figures: rewards issued and settled per
partnership, offers redeemed per offer. Exact numbers against known data, one query each
however much data, and every link opening the admin list it counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.utils import quote
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from exchanges.offers.models import Redemption
from exchanges.offers.selectors import redemptions_by_offer
from exchanges.rewards import services
from exchanges.rewards.models import Reward
from exchanges.rewards.selectors import rewards_by_partnership
from tests.builders import make_admin, make_customer, make_link
from tests.exchanges.offers.support import make_world, published
from tests.exchanges.rewards.conftest import activity_types, fee  # noqa: F401  (fixtures)
from tests.exchanges.rewards.test_statements import closing_time, post_all

pytestmark = pytest.mark.django_db


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def issue_fees(fee, prefix: str, n: int) -> list[Reward]:  # noqa: F811
    made: list[Reward] = []
    for i in range(n):
        with transaction.atomic():
            made += services.rewards_for_conversion(
                referral_id=f"ref_{prefix}{i}",
                partnership_id=fee.partnership.pk,
                source_id=fee.gym.pk,
                recipient_id=fee.grocer.pk,
                customer_id=fee.ada.pk,
                consent_id=fee.consent.pk,
                value_amount=None,
                value_currency="",
            )
    return made


def granted_reward(fee, trigger: str, *, issued_days_ago: float = 1) -> Reward:  # noqa: F811
    """A reward an exchange grants itself (an offer's, on redemption): no rule."""
    reward = Reward.objects.create(
        rule=None,
        title="A free smoothie",
        funder=fee.grocer,
        receiver=fee.gym,
        to_customer=True,
        customer=fee.ada,
        consent=fee.consent,
        amount=Decimal("100"),
        unit="harbor-points",
        trigger_ref=trigger,
        period=timezone.now().strftime("%Y-%m"),
        lock_at=timezone.now() + timedelta(days=14),
    )
    Reward.objects.filter(pk=reward.pk).update(issued_at=days_ago(issued_days_ago))
    return reward


@pytest.fixture
def ledger(fee):  # noqa: F811
    """Three fees posted and settled on the month's statement, two pending of which one is
    voided since, two offer rewards (one 45 days ago, outside the 30-day window)."""
    settled = issue_fees(fee, "settled", 3)
    period = post_all(settled)
    services.statements_close(period=period, now=closing_time(period))
    pending = issue_fees(fee, "pending", 2)
    services.reward_void(reward=pending[0], actor=None, reason="Duplicate referral.")
    granted_reward(fee, "rdm_recent")
    granted_reward(fee, "rdm_old", issued_days_ago=45)
    return fee


def test_rewards_issued_and_settled_per_partnership(ledger):
    rows = rewards_by_partnership(since=days_ago(30))

    assert rows == [
        {
            "partnership_id": None,
            "label": "Offers (no partnership)",
            "unit": "harbor-points",
            "issued": 1,
            "posted": 0,
            "ended": 0,
            "settled": 0,
            "issued_amount": Decimal("100"),
            "settled_amount": Decimal("0"),
        },
        {
            "partnership_id": ledger.partnership.pk,
            "label": "Fresh Basket ↔ Pulse Fitness",
            "unit": "EUR",
            "issued": 5,
            "posted": 3,
            "ended": 1,
            "settled": 3,
            "issued_amount": Decimal("10.00"),
            "settled_amount": Decimal("6.00"),
        },
    ]


def test_rewards_window_of_90_days_takes_in_the_older_reward(ledger):
    rows = rewards_by_partnership(since=days_ago(90))

    assert [(r["label"], r["issued"]) for r in rows] == [
        ("Offers (no partnership)", 2),
        ("Fresh Basket ↔ Pulse Fitness", 5),
    ]


def test_a_reversed_reward_stays_settled_and_counts_as_ended(ledger):
    settled = Reward.objects.filter(status=Reward.Status.POSTED).first()
    services.reward_reverse(reward=settled, actor=None, reason="Refunded.")

    (_, row) = rewards_by_partnership(since=days_ago(30))

    assert (row["issued"], row["posted"], row["ended"], row["settled"]) == (5, 3, 2, 3)


def test_rewards_figure_takes_one_query_however_many_rewards(ledger, django_assert_num_queries):
    with django_assert_num_queries(1):
        before = rewards_by_partnership(since=days_ago(30))
    issue_fees(ledger, "more", 4)
    with django_assert_num_queries(1):
        after = rewards_by_partnership(since=days_ago(30))
    assert (before[1]["issued"], after[1]["issued"]) == (5, 9)


# --- offers ------------------------------------------------------------------------------


@pytest.fixture
def redemptions(taxonomy):
    world = make_world()
    smoothie = published(world, title="A free smoothie")
    produce = published(world, title="10 % off organic produce")
    unredeemed = published(world, title="Nobody took this")
    carl = make_customer(name="Carl")
    make_link(carl, world.gym)

    def redeem(offer, customer, ref, *, created=1):
        Redemption.objects.create(
            offer=offer,
            partner=world.gym,
            customer=customer,
            consent=world.consent,
            external_id=ref,
            created_at=days_ago(created),
        )

    redeem(smoothie, world.ada, "s1")
    redeem(smoothie, world.ada, "s2")
    redeem(smoothie, carl, "s3")
    redeem(produce, world.ben, "p1")
    redeem(produce, world.ben, "p2", created=60)  # outside the 30-day window
    return world, smoothie, produce, unredeemed


def test_offers_redeemed_per_offer(redemptions):
    _, smoothie, produce, _ = redemptions

    rows = redemptions_by_offer(since=days_ago(30))

    assert [
        (r["offer_id"], r["title"], r["lead"], r["redeemed"], r["customers"]) for r in rows
    ] == [
        (smoothie.pk, "A free smoothie", "Fresh Basket", 3, 2),
        (produce.pk, "10 % off organic produce", "Fresh Basket", 1, 1),
    ]
    assert [r["rewarded"] for r in rows] == [0, 0]


def test_offers_window_of_90_days(redemptions):
    rows = redemptions_by_offer(since=days_ago(90))

    assert [(r["title"], r["redeemed"], r["customers"]) for r in rows] == [
        ("A free smoothie", 3, 2),
        ("10 % off organic produce", 2, 1),
    ]


def test_offers_figure_takes_one_query_however_many_redemptions(
    redemptions, django_assert_num_queries
):
    world, _, produce, _ = redemptions
    with django_assert_num_queries(1):
        redemptions_by_offer(since=days_ago(30))
    for i in range(6):
        Redemption.objects.create(
            offer=produce,
            partner=world.gym,
            customer=world.ada,
            consent=world.consent,
            external_id=f"more{i}",
        )
    with django_assert_num_queries(1):
        rows = redemptions_by_offer(since=days_ago(30))
    assert (rows[0]["title"], rows[0]["redeemed"]) == ("10 % off organic produce", 7)


# --- the page ----------------------------------------------------------------------------


def test_dashboard_shows_rewards_and_offers_with_charts_and_tables(client, ledger, redemptions):
    client.force_login(make_admin())

    response = client.get("/admin/")

    html = response.content.decode()
    assert "Rewards per partnership" in html and "Offers redeemed" in html
    rewards, offers = response.context["rewards"]["rows"], response.context["rewards"]["offers"]
    assert [(r["label"], r["issued"], r["settled"]) for r in rewards] == [
        ("Offers (no partnership)", 1, 0),
        ("Fresh Basket ↔ Pulse Fitness", 5, 3),
    ]
    assert [(r["title"], r["redeemed"]) for r in offers] == [
        ("A free smoothie", 3),
        ("10 % off organic produce", 1),
    ]
    section = html.split('id="ops-rewards"', 1)[1].split('id="ops-admin"', 1)[0]
    assert section.count("<svg") == 2
    assert "10.00" in section and "6.00" in section
    assert reverse("admin:offers_offer_change", args=[quote(offers[0]["offer_id"])]) in section


def test_the_rewards_links_open_the_lists_they_count(client, ledger):
    client.force_login(make_admin())
    response = client.get("/admin/")
    html = response.content.decode().replace("&amp;", "&")

    counted = []
    for row in response.context["rewards"]["rows"]:
        for name in ("issued", "ended", "settled"):
            href = row["links"][name]
            assert f'href="{href}"' in html
            listed = client.get(href)
            assert listed.status_code == 200, href
            counted.append((row["unit"], name, listed.context["cl"].result_count))

    # Issued and ended are the rewards behind the figure; settled, the unit's statements.
    assert counted == [
        ("harbor-points", "issued", 1),
        ("harbor-points", "ended", 0),
        ("harbor-points", "settled", 0),
        ("EUR", "issued", 5),
        ("EUR", "ended", 1),
        ("EUR", "settled", 1),
    ]


def test_dashboard_without_rewards_or_redemptions_says_so(client, taxonomy):
    client.force_login(make_admin())

    html = client.get("/admin/").content.decode()

    assert "No reward was issued in the last 30 days." in html
    assert "No offer was redeemed in the last 30 days." in html
