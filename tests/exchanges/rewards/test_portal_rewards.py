"""The portal's "My rewards": balances per unit from the ledger, every reward in plain words
with the consent behind it, what a withdrawal did to it; escaped; flat in queries."""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.services.consents import consent_withdraw
from exchanges.rewards import services
from exchanges.rewards.models import Reward
from tests.exchanges.rewards.conftest import convert, visits

pytestmark = pytest.mark.django_db
PAGE = "/rewards/"


@pytest.fixture
def ada(world, client):
    world.rule.description = "EUR 5 off your Harbor Mutual premium"
    world.rule.save(update_fields=["description"])
    client.force_login(world.ada.user, backend="consent.auth.CustomerEmailBackend")
    world.client = client
    return world


def earn(world, link=None, *, prefix="v") -> Reward:
    link = link or world.ada_gym
    response = world.gym_api.post(
        "/api/v1/activities", {"items": visits(link, 8, prefix=prefix)}, format="json"
    )
    assert response.json()["accepted"] == 8
    return Reward.objects.order_by("-issued_at").first()


def page(world) -> str:
    response = world.client.get(PAGE)
    assert response.status_code == 200
    return htmllib.unescape(response.content.decode())


def balance_row(unit: str, available: str, pending: str) -> str:
    return (
        f'<td data-label="Programme or currency">{unit}</td>'
        f'<td data-label="Yours (available)">{available}</td>'
        f'<td data-label="Pending">{pending}</td>'
    )


def test_a_pending_reward_in_plain_words_with_its_balance_and_consent(ada):
    reward = earn(ada)
    month = timezone.now().strftime("%B %Y")

    text = page(ada)

    assert f"8 gym visits at Pulse Fitness in {month} → EUR 5 off your Harbor Mutual premium" in (
        text
    )
    assert "<strong>On its way</strong> — Becomes yours on" in text
    assert "withdrawing it cancels this reward" in text and "Pending</strong>" not in text
    assert balance_row("EUR", "EUR 0", "EUR 5") in text  # available 0, pending 5
    assert f'href="/consents/{reward.consent_id}/withdraw/"' in text
    assert "Pulse Fitness may share your" in text and "with Harbor Mutual" in text
    assert 'href="/rewards/" aria-current="page"' in text  # in the portal's nav


def test_withdrawing_voids_the_pending_reward_and_the_page_says_why(ada):
    earn(ada)
    consent_withdraw(consent=ada.consent, customer=ada.ada)

    text = page(ada)

    assert "<strong>Cancelled</strong> — Cancelled because you withdrew the consent" not in text
    assert "<strong>Cancelled</strong> — Because you withdrew the consent behind it on" in text
    assert "(you withdrew it)" in text and "(withdrawn)" not in text and "Voided" not in text
    assert balance_row("EUR", "EUR 0", "EUR 0") in text


def test_a_posted_reward_stays_after_a_withdrawal_and_the_page_says_so(ada):
    reward = earn(ada)
    services.rewards_post_due(now=reward.lock_at + timedelta(seconds=1))
    consent_withdraw(consent=ada.consent, customer=ada.ada)

    text = page(ada)

    assert "<strong>Yours</strong> — Added to your rewards on" in text
    assert "this reward stays yours" in text and "Yours since" not in text
    assert "Posted" not in text
    assert balance_row("EUR", "EUR 5", "EUR 0") in text


def test_another_customers_rewards_and_partner_fees_are_not_shown(ada, fee):
    _other, link = ada.add_customer()
    earn(ada, link, prefix="o")
    convert(fee)  # a fee the grocer pays the gym about (another) Ada: not a reward to her

    response = ada.client.get(PAGE)
    assert "You have no rewards yet." in response.content.decode()
    assert "<h2>Balances</h2>" not in response.content.decode()


def test_everything_a_brand_or_admin_wrote_is_escaped(ada):
    ada.rule.description = '<script>alert("x")</script>'
    ada.rule.save(update_fields=["description"])
    ada.gym.name = "<b>Pulse</b>"
    ada.gym.save(update_fields=["name"])
    earn(ada)

    raw = ada.client.get(PAGE).content.decode()

    assert "<script>" not in raw and "<b>Pulse</b>" not in raw
    assert "&lt;script&gt;" in raw and "&lt;b&gt;Pulse&lt;/b&gt;" in raw


def test_every_cell_names_its_column_for_phones_where_headers_are_hidden(ada):
    earn(ada)

    text = page(ada)

    cells = re.findall(r"<td[^>]*>", text)
    assert len(cells) == 3 + 4  # one balance row, one history row
    assert all("data-label=" in cell for cell in cells)


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("rewards", [1, 5])
def test_the_page_is_flat_in_the_number_of_rewards(ada, rewards, django_assert_max_num_queries):
    ada.rule.cap_per_period = 5
    ada.rule.save(update_fields=["cap_per_period"])
    items = visits(ada.ada_gym, 8 * rewards)
    ada.gym_api.post("/api/v1/activities", {"items": items}, format="json")
    assert Reward.objects.count() == rewards
    ada.client.get(PAGE)

    with django_assert_max_num_queries(8):
        assert page(ada).count("gym visits at Pulse Fitness") == rewards
