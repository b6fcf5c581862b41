"""An offer's reward on redemption: one reward per redemption in the rewards ledger, funded
by the sponsor the offer names, written in the redemption's transaction; its refusals; what
each sponsor learns; a withdrawal voiding it as any pending reward; where the customer and
the partners see it."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.contrib.admin.utils import quote
from django.core.management import call_command

from consent.models import Customer
from consent.services.consents import consent_withdraw
from exchanges.offers import services
from exchanges.offers.models import Offer, Redemption
from exchanges.offers.services import OfferReward
from exchanges.rewards.ledger import Owner, balances, ledger_verify
from exchanges.rewards.models import Entry, LedgerTransaction, Reward
from partners.webhooks.models import EventPayload
from tests.builders import make_staff
from tests.exchanges.offers.support import api, draft, make_world, published, window
from tests.exchanges.offers.test_offer_pages import _form, as_customer
from tests.exchanges.rewards.conftest import seed_activity_types

pytestmark = pytest.mark.django_db

OFFERS = "/api/v1/offers"
EUR5 = {"amount": "5.00", "unit": "EUR"}


@pytest.fixture
def world():
    return make_world()


def _reward(partner, amount="5.00", unit="EUR") -> OfferReward:
    return OfferReward(partner.pk, Decimal(amount), unit)


def _redeem(world, offer, partner="grocer", external_id="till-1"):
    return api(getattr(world, partner)).post(
        f"{OFFERS}/{offer.pk}/redemptions",
        {"customer_id": world.links["ada", partner].pk, "external_id": external_id},
        format="json",
    )


def _told(event_type):
    """Each partner's payload data of the one event of this type."""
    return {
        p.partner_id: json.loads(p.body)["data"]
        for p in EventPayload.objects.filter(event__type=event_type)
    }


# --- the happy path on the ledger -----------------------------------------------------------


def test_a_redemption_issues_one_reward_funded_by_the_named_sponsor(world):
    offer = published(world, reward=_reward(world.gym))

    answer = _redeem(world, offer)

    assert answer.status_code == 201, answer.json()
    redemption = Redemption.objects.get()
    reward = Reward.objects.get()
    assert answer.json()["reward_id"] == reward.pk == redemption.reward_id
    assert (reward.funder_id, reward.receiver_id, reward.customer_id) == (
        world.gym.pk,
        world.grocer.pk,
        world.ada.pk,
    )
    assert reward.to_customer and reward.rule is None and reward.status == "pending"
    assert (reward.amount, reward.unit, reward.trigger_ref) == (Decimal("5"), "EUR", redemption.pk)
    assert reward.consent_id == redemption.consent_id == world.consent.pk
    txn = LedgerTransaction.objects.get()
    assert txn.kind == "issue" and txn.reward_id == reward.pk and txn.rule_id is None
    legs = sorted(
        (e.account.owner_type, e.account.owner_ref, e.account.kind, e.amount)
        for e in Entry.objects.select_related("account")
    )
    assert legs == [
        ("customer", world.ada.pk, "pending", Decimal("5")),
        ("partner", world.gym.pk, "pending", Decimal("-5")),
    ]
    assert sum(e.amount for e in Entry.objects.all()) == 0
    assert ledger_verify() == []
    assert balances(Owner.customer(world.ada.pk)) == {("pending", "EUR"): Decimal("5")}


def test_the_funder_and_the_redeemer_hear_reward_issued_each_under_its_own_id(world):
    offer = published(world, reward=_reward(world.gym))

    _redeem(world, offer)

    told = _told("reward.issued")
    assert set(told) == {world.gym.pk, world.grocer.pk}
    assert told[world.gym.pk]["customer_id"] == world.links["ada", "gym"].pk
    assert told[world.grocer.pk]["customer_id"] == world.links["ada", "grocer"].pk
    assert told[world.gym.pk]["value"] == {"amount": "5.00", "currency": "EUR"}
    assert told[world.gym.pk]["rule_id"] is None
    redeemed = _told("offer.redeemed")
    reward = Reward.objects.get()
    assert {d["reward_id"] for d in redeemed.values()} == {reward.pk}


def test_a_funder_the_customer_did_not_let_show_offers_never_learns_who_it_was(world):
    # Ada lets only Pulse (the gym) show her offers; Fresh Basket (the lead) funds.
    offer = published(world, reward=_reward(world.grocer))

    answer = _redeem(world, offer, partner="gym")

    assert answer.status_code == 201, answer.json()
    told = _told("reward.issued")
    assert told[world.grocer.pk]["customer_id"] is None
    assert told[world.gym.pk]["customer_id"] == world.links["ada", "gym"].pk
    seen = api(world.grocer, scopes="rewards:read").get("/api/v1/rewards").json()["results"]
    assert [row["customer_id"] for row in seen] == [None]
    assert world.links["ada", "grocer"].pk not in json.dumps(seen)


def test_points_are_a_unit_too(world):
    offer = published(world, reward=_reward(world.gym, "100", "pulse-points"))

    _redeem(world, offer)

    reward = Reward.objects.get()
    assert (reward.amount, reward.unit) == (Decimal("100"), "pulse-points")
    assert ledger_verify() == []


def test_an_offer_without_a_reward_issues_none(world):
    offer = published(world, cap_per_customer=2)

    assert _redeem(world, offer).status_code == 201

    assert not Reward.objects.exists() and Redemption.objects.get().reward is None
    assert _redeem(world, offer, external_id="till-2").json()["reward_id"] is None


# --- once per redemption --------------------------------------------------------------------


def test_a_replayed_redemption_issues_nothing_more(world):
    offer = published(world, reward=_reward(world.gym), cap_per_customer=5)

    first = _redeem(world, offer)
    again = _redeem(world, offer)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reward_id"] == first.json()["reward_id"]
    assert Reward.objects.count() == 1 and LedgerTransaction.objects.count() == 1
    assert EventPayload.objects.filter(event__type="reward.issued").count() == 2  # one event
    assert _redeem(world, offer, external_id="till-2").status_code == 201
    assert Reward.objects.count() == 2 and ledger_verify() == []


def test_a_refused_redemption_issues_no_reward(world):
    offer = published(world, reward=_reward(world.gym), cap_total=1)
    _redeem(world, offer)

    refused = _redeem(world, offer, external_id="till-2")

    assert refused.status_code == 409 and refused.json()["code"] == "cap_reached"
    assert Reward.objects.count() == 1


# --- the refusals ---------------------------------------------------------------------------


def _create_body(world, reward, **fields):
    w = window()
    return {
        "title": "Free smoothie",
        "body": "<p>After a class</p>",
        "starts_at": w["starts_at"].isoformat(),
        "ends_at": w["ends_at"].isoformat(),
        "co_sponsors": [world.gym.pk],
        "reward": reward,
        **fields,
    }


@pytest.mark.parametrize(
    ("reward", "status", "code"),
    [
        ({"funder": "stranger", **EUR5}, 400, "reward_funder_not_sponsor"),
        ({"funder": "gym", "amount": "0", "unit": "EUR"}, 400, "invalid_reward_amount"),
        ({"funder": "gym", "amount": "-5", "unit": "EUR"}, 400, "invalid_reward_amount"),
        ({"funder": "gym", "amount": "5.001", "unit": "EUR"}, 400, "invalid_reward_amount"),
        ({"funder": "gym", "amount": "1.5", "unit": "pulse-points"}, 400, "invalid_reward_amount"),
        ({"funder": "gym", "amount": "five", "unit": "EUR"}, 400, "validation_error"),
        ({"funder": "gym", "amount": 5, "unit": "EUR"}, 201, ""),
        ({"funder": "gym", "amount": "5", "unit": "EURO"}, 400, "invalid_reward_unit"),
        ({"funder": "gym", "amount": "5", "unit": "Pulse Points"}, 400, "invalid_reward_unit"),
        ({"funder": "gym", "amount": "5"}, 400, "validation_error"),
        ({"funder": "gym", **EUR5}, 201, ""),
        ({"funder": "grocer", **EUR5}, 201, ""),
    ],
)
def test_a_draft_with_a_bad_reward_is_refused_and_writes_nothing(world, reward, status, code):
    reward = {**reward, "funder": getattr(world, reward["funder"]).pk}

    answer = api(world.grocer).post(OFFERS, _create_body(world, reward), format="json")

    assert answer.status_code == status, answer.json()
    if status == 400:
        assert answer.json()["code"] == code
        assert not Offer.objects.exists()
    else:
        assert answer.json()["reward"]["funder"] == reward["funder"]
        assert Offer.objects.get().reward_amount == Decimal("5")


def test_the_reward_is_shown_and_edited_only_in_draft(world):
    grocer = api(world.grocer)
    created = grocer.post(
        OFFERS, _create_body(world, {"funder": world.gym.pk, **EUR5}), format="json"
    ).json()
    assert created["reward"] == {"funder": world.gym.pk, "amount": "5.00", "unit": "EUR"}
    url = f"{OFFERS}/{created['id']}"

    changed = grocer.patch(
        url, {"reward": {"funder": world.grocer.pk, "amount": "2.50", "unit": "EUR"}}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["reward"] == {"funder": world.grocer.pk, "amount": "2.50", "unit": "EUR"}
    assert grocer.patch(url, {"reward": None}, format="json").json()["reward"] is None

    grocer.patch(url, {"reward": {"funder": world.gym.pk, **EUR5}}, format="json")
    dropped = grocer.patch(url, {"co_sponsors": []}, format="json")
    assert dropped.status_code == 400 and dropped.json()["code"] == "reward_funder_not_sponsor"
    assert Offer.objects.get().sponsors.count() == 1

    offer = Offer.objects.get()
    services.offer_cosponsor_answer(
        offer_id=offer.pk, partner_id=world.gym.pk, actor="t", accept=True
    )
    services.offer_submit(offer_id=offer.pk, partner_id=world.grocer.pk, actor="t")
    services.offer_approve(offer_id=offer.pk, actor="admin")
    late = grocer.patch(url, {"reward": {"funder": world.gym.pk, **EUR5}}, format="json")
    assert late.status_code == 409 and late.json()["code"] == "offer_not_editable"
    gone = grocer.patch(url, {"reward": None}, format="json")
    assert gone.status_code == 409 and Offer.objects.get().reward_funder == world.gym


def test_the_service_refuses_a_funder_that_is_not_a_sponsor(world):
    with pytest.raises(services.OfferInvalid) as refused:
        draft(world, reward=_reward(world.stranger))
    assert refused.value.code == "reward_funder_not_sponsor"
    assert not Offer.objects.exists()


# --- a withdrawal, as rewards do ------------------------------------------------------------


def test_withdrawing_the_offers_consent_voids_the_pending_reward(world):
    offer = published(world, reward=_reward(world.gym))
    _redeem(world, offer)

    consent_withdraw(consent=world.consent, customer=world.ada)

    reward = Reward.objects.get()
    assert reward.status == "voided" and reward.ended_at is not None
    assert list(reward.transactions.values_list("kind", flat=True)) == ["issue", "void"]
    assert ledger_verify() == []
    assert all(v == 0 for v in balances(Owner.customer(world.ada.pk)).values())
    voided = {p.partner_id for p in EventPayload.objects.filter(event__type="reward.voided")}
    assert voided == {world.gym.pk, world.grocer.pk}


# --- where it is seen -----------------------------------------------------------------------


def test_ada_sees_what_the_offer_earns_and_then_the_reward_in_her_rewards(world, client):
    offer = published(world, reward=_reward(world.gym))
    as_customer(client, world.ada)
    page = client.get("/offers/").content.decode()
    assert "Redeeming it earns you <strong>EUR 5 from Pulse Fitness</strong>" in page

    _redeem(world, offer)

    page = client.get("/offers/").content.decode()
    assert "it earned you a reward" in page
    rewards = client.get("/rewards/").content.decode()
    assert (
        "You redeemed the offer “10 % off organic produce” at Fresh Basket → EUR 5 from "
        "Pulse Fitness" in rewards
    )
    assert "Pending" in rewards and "EUR 5" in rewards


def test_the_console_drafts_a_reward_and_refuses_a_bad_one_next_to_its_field(world, client):
    client.force_login(make_staff(world.grocer))
    bad = client.post(
        "/partner-admin/offers/offer/add/",
        _form(world, reward_funder=world.gym.pk, reward_amount="5", reward_unit="EURO"),
    )
    assert bad.status_code == 200
    assert "is not an ISO 4217 currency" in bad.content.decode()
    half = client.post("/partner-admin/offers/offer/add/", _form(world, reward_funder=world.gym.pk))
    assert "Give the reward&#x27;s funder, amount and unit, or none of them." in (
        half.content.decode()
    )
    assert not Offer.objects.exists()

    good = client.post(
        "/partner-admin/offers/offer/add/",
        _form(world, reward_funder=world.gym.pk, reward_amount="5.00", reward_unit="EUR"),
    )

    assert good.status_code == 302, good.content.decode()[:2000]
    offer = Offer.objects.get()
    assert (offer.reward_funder, offer.reward_amount, offer.reward_unit) == (
        world.gym,
        Decimal("5"),
        "EUR",
    )
    page = client.get(f"/partner-admin/offers/offer/{quote(offer.pk)}/change/").content.decode()
    assert "Redeeming it earns you EUR 5 from Pulse Fitness." in page  # the preview


def test_the_console_offers_only_sponsors_as_funders(world, client):
    client.force_login(make_staff(world.grocer))
    bad = client.post(
        "/partner-admin/offers/offer/add/",
        _form(world, reward_funder=world.stranger.pk, reward_amount="5", reward_unit="EUR"),
    )
    assert bad.status_code == 200 and not Offer.objects.exists()
    assert "Select a valid choice" in bad.content.decode()


def test_the_admin_shows_the_reward_read_only(world, client, ecosystem_admin):
    offer = published(world, reward=_reward(world.gym))
    page = client.get(f"/admin/offers/offer/{quote(offer.pk)}/change/").content.decode()
    assert "Reward on redemption" in page and "EUR 5 from Pulse Fitness" in page
    assert 'name="reward_amount"' not in page


# --- the demo -------------------------------------------------------------------------------


def test_the_demo_co_sponsored_offer_carries_a_reward_ada_earned(taxonomy, settings, client):
    seed_activity_types()
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())

    shared = Offer.objects.get(status="published", sponsors__isnull=False)
    assert (shared.lead.name, shared.reward_funder.name) == ("Fresh Basket", "Pulse Fitness")
    assert (shared.reward_amount, shared.reward_unit) == (Decimal("2"), "EUR")
    ada = Customer.objects.order_by("created_at")[0]
    redemption = Redemption.objects.get(offer=shared, customer=ada)
    assert (
        redemption.reward.status == "pending" and redemption.reward.funder == shared.reward_funder
    )
    assert ledger_verify() == []
    as_customer(client, ada)
    rewards = client.get("/rewards/").content.decode()
    assert f"You redeemed the offer “{shared.title}” at Fresh Basket → EUR 2 from" in rewards
    offers = client.get("/offers/").content.decode()
    assert "Redeeming it earns you <strong>EUR 2 from Pulse Fitness</strong>" in offers
