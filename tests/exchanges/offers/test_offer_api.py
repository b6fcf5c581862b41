"""The offers API: drafting, the state machine by each party, redemptions and their
refusals, idempotency, webhooks and the access log, query pins."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import AccessEvent
from consent.services.consents import consent_withdraw
from ecosystem.models.audit import AuditEntry
from exchanges.offers import services
from exchanges.offers.models import Offer, Redemption
from partners.models import Partner
from partners.webhooks.models import EventPayload
from tests.builders import make_partner
from tests.exchanges.offers.support import api, draft, make_world, published, window

pytestmark = pytest.mark.django_db

OFFERS = "/api/v1/offers"


@pytest.fixture
def world():
    return make_world()


def _iso(moment):
    return moment.isoformat()


def _create_body(world, **fields):
    w = window()
    return {
        "title": "Free health check",
        "body": "<p>After <em>20</em> visits</p>",
        "starts_at": _iso(w["starts_at"]),
        "ends_at": _iso(w["ends_at"]),
        "co_sponsors": [world.gym.pk],
        **fields,
    }


def test_a_lead_drafts_an_offer_and_its_co_sponsor_sees_it_invited(world):
    grocer = api(world.grocer)
    created = grocer.post(OFFERS, _create_body(world, cap_total=5), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["id"].startswith("off_")
    assert body["status"] == "draft"
    assert body["lead_sponsor"] == world.grocer.pk
    assert body["co_sponsors"] == [{"partner": world.gym.pk, "status": "invited"}]
    assert body["cap_total"] == 5 and body["redemption_count"] == 0
    seen = api(world.gym).get(f"{OFFERS}/{body['id']}")
    assert seen.status_code == 200 and seen.json()["status"] == "draft"


def test_the_body_is_sanitised_and_other_fields_are_kept_as_text(world):
    attack = '<script>alert(1)</script><p onclick="x()">Hi <a href="https://evil.example">x</a>'
    created = api(world.grocer).post(
        OFFERS, _create_body(world, body=attack, title="<b>T</b>"), format="json"
    )
    assert created.status_code == 201, created.json()
    offer = Offer.objects.get(pk=created.json()["id"])
    assert "<script" not in offer.body and "onclick" not in offer.body
    assert "href" not in offer.body and "alert(1)" not in offer.body
    assert offer.body.startswith("<p>Hi")
    assert offer.title == "<b>T</b>"  # plain text, escaped wherever it is shown


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"ends_at": "2020-01-01T00:00:00Z"}, "invalid_window"),
        ({"cap_total": 1, "cap_per_customer": 2}, "invalid_caps"),
        ({"cap_total": "5"}, "validation_error"),
        ({"body": "<script>only</script>"}, "offer_incomplete"),
        ({"title": ""}, "validation_error"),
    ],
)
def test_bad_drafts_are_refused_and_write_nothing(world, fields, code):
    response = api(world.grocer).post(OFFERS, _create_body(world, **fields), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert not Offer.objects.exists()


def test_a_co_sponsor_without_a_partnership_is_refused(world):
    response = api(world.grocer).post(
        OFFERS, _create_body(world, co_sponsors=[world.stranger.pk]), format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "partnership_required"
    assert not Offer.objects.exists()


def test_creating_with_the_same_idempotency_key_returns_the_first_offer(world):
    grocer = api(world.grocer)
    body = _create_body(world)
    first = grocer.post(OFFERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = grocer.post(OFFERS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = grocer.post(
        OFFERS, {**body, "title": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert other.status_code == 422
    assert Offer.objects.count() == 1


# --- the state machine by each party ------------------------------------------------------


def test_submit_waits_for_every_co_sponsor(world):
    offer = draft(world)
    refused = api(world.grocer).post(f"{OFFERS}/{offer.pk}/submit")
    assert refused.status_code == 409
    assert refused.json()["code"] == "cosponsors_not_accepted"
    services.offer_cosponsor_answer(
        offer_id=offer.pk, partner_id=world.gym.pk, actor="t", accept=True
    )
    submitted = api(world.grocer).post(f"{OFFERS}/{offer.pk}/submit")
    assert submitted.status_code == 200, submitted.json()
    assert submitted.json()["status"] == "submitted"


def test_a_declined_co_sponsor_blocks_submission_until_removed(world):
    offer = draft(world)
    services.offer_cosponsor_answer(
        offer_id=offer.pk, partner_id=world.gym.pk, actor="t", accept=False
    )
    grocer = api(world.grocer)
    assert grocer.post(f"{OFFERS}/{offer.pk}/submit").json()["code"] == "cosponsors_not_accepted"
    patched = grocer.patch(f"{OFFERS}/{offer.pk}", {"co_sponsors": []}, format="json")
    assert patched.status_code == 200 and patched.json()["co_sponsors"] == []
    assert grocer.post(f"{OFFERS}/{offer.pk}/submit").json()["status"] == "submitted"


def test_editing_a_draft_asks_accepted_co_sponsors_again(world):
    offer = draft(world)
    services.offer_cosponsor_answer(
        offer_id=offer.pk, partner_id=world.gym.pk, actor="t", accept=True
    )
    response = api(world.grocer).patch(f"{OFFERS}/{offer.pk}", {"title": "New"}, format="json")
    assert response.status_code == 200
    assert response.json()["co_sponsors"] == [{"partner": world.gym.pk, "status": "invited"}]


def test_a_co_sponsor_cannot_edit_submit_or_retire(world):
    offer = draft(world)
    gym = api(world.gym)
    for response in (
        gym.patch(f"{OFFERS}/{offer.pk}", {"title": "Mine now"}, format="json"),
        gym.post(f"{OFFERS}/{offer.pk}/submit"),
        gym.post(f"{OFFERS}/{offer.pk}/retire"),
    ):
        assert response.status_code == 403, response.json()
        assert response.json()["code"] == "invalid_party"
    offer.refresh_from_db()
    assert offer.title == "10 % off organic produce" and offer.status == "draft"


def test_the_lead_cannot_answer_for_a_co_sponsor(world):
    offer = draft(world)
    with pytest.raises(services.ForbiddenError) as refused:
        services.offer_cosponsor_answer(
            offer_id=offer.pk, partner_id=world.grocer.pk, actor="t", accept=True
        )
    assert refused.value.code == "invalid_party"


def test_a_submitted_offer_cannot_be_edited_or_submitted_again(world):
    offer = published(world)
    services.offer_retire(offer_id=offer.pk, actor="admin")
    offer = draft(world, co_sponsors=[])
    services.offer_submit(offer_id=offer.pk, partner_id=world.grocer.pk, actor="t")
    grocer = api(world.grocer)
    edit = grocer.patch(f"{OFFERS}/{offer.pk}", {"title": "Sneaky"}, format="json")
    again = grocer.post(f"{OFFERS}/{offer.pk}/submit")
    assert edit.status_code == again.status_code == 409
    assert edit.json()["code"] == again.json()["code"] == "invalid_transition"


def test_admin_approval_publishes_and_tells_every_sponsor(world):
    offer = published(world)
    assert offer.status == "published" and offer.published_at is not None
    told = EventPayload.objects.filter(event__type="offer.published")
    assert sorted(told.values_list("partner_id", flat=True)) == sorted(
        [world.grocer.pk, world.gym.pk]
    )
    data = json.loads(told.first().body)["data"]
    assert data["offer_id"] == offer.pk and "customer_id" not in data


def test_an_approval_before_the_window_waits_for_the_beat(world):
    now = timezone.now()
    offer = published(world, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=3))
    assert offer.status == "approved"
    assert services.offers_publish_due(now=now) == 0
    assert services.offers_publish_due(now=now + timedelta(days=1, minutes=1)) == 1
    offer.refresh_from_db()
    assert offer.status == "published"


def test_the_sweep_retires_an_ended_published_offer_and_tells_its_sponsors(world):
    offer = published(world)
    ended = offer.ends_at + timedelta(minutes=1)
    assert services.offers_retire_ended(now=offer.ends_at - timedelta(minutes=1)) == 0

    assert services.offers_retire_ended(now=ended) == 1

    offer.refresh_from_db()
    assert offer.status == "retired" and offer.retired_at == ended
    told = EventPayload.objects.filter(event__type="offer.retired")
    assert sorted(told.values_list("partner_id", flat=True)) == sorted(
        [world.grocer.pk, world.gym.pk]
    )
    assert services.offers_retire_ended(now=ended) == 0  # safe to run twice
    assert told.count() == 2


def test_the_sweep_retires_an_approved_never_published_offer_without_telling(world):
    now = timezone.now()
    offer = published(world, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2))
    assert offer.status == "approved"
    ended = offer.ends_at + timedelta(minutes=1)

    assert services.offers_retire_ended(now=ended) == 1

    offer.refresh_from_db()
    assert offer.status == "retired" and offer.published_at is None
    assert not EventPayload.objects.filter(
        event__type__in=["offer.retired", "offer.published"]
    ).exists()
    row = AuditEntry.objects.filter(action="offer.retire", object_id=offer.pk).get()
    assert row.data == {"from": "approved", "to": "retired", "window_ended": True}
    assert services.offers_publish_due(now=ended) == 0  # and it is never published later


def test_the_sweep_leaves_drafts_and_submitted_offers_whose_window_ended(world):
    offer = draft(world, co_sponsors=[])
    waiting = draft(world, co_sponsors=[], title="Waiting")
    services.offer_submit(offer_id=waiting.pk, partner_id=world.grocer.pk, actor="t")

    assert services.offers_retire_ended(now=offer.ends_at + timedelta(minutes=1)) == 0

    assert set(Offer.objects.values_list("status", flat=True)) == {"draft", "submitted"}


def test_rejection_needs_a_reason_and_the_lead_can_redraft(world, mailbox):
    offer = draft(world, co_sponsors=[])
    services.offer_submit(offer_id=offer.pk, partner_id=world.grocer.pk, actor="t")
    with pytest.raises(services.OfferInvalid):
        services.offer_reject(offer_id=offer.pk, actor="admin", reason="  ")
    services.offer_reject(offer_id=offer.pk, actor="admin", reason="Terms are unclear")
    offer.refresh_from_db()
    assert offer.status == "rejected" and offer.rejection_reason == "Terms are unclear"
    assert any("Terms are unclear" in m.body for m in mailbox)
    patched = api(world.grocer).patch(f"{OFFERS}/{offer.pk}", {"terms": "Clear"}, format="json")
    assert patched.status_code == 200 and patched.json()["status"] == "draft"


def test_a_published_offer_can_only_be_extended_or_retired(world):
    offer = published(world)
    grocer = api(world.grocer)
    edit = grocer.patch(f"{OFFERS}/{offer.pk}", {"title": "Changed"}, format="json")
    assert edit.status_code == 409 and edit.json()["code"] == "offer_not_editable"
    shorter = grocer.patch(
        f"{OFFERS}/{offer.pk}", {"ends_at": _iso(offer.ends_at - timedelta(days=1))}, format="json"
    )
    assert shorter.status_code == 400 and shorter.json()["code"] == "invalid_window"
    later = offer.ends_at + timedelta(days=7)
    extended = grocer.patch(f"{OFFERS}/{offer.pk}", {"ends_at": _iso(later)}, format="json")
    assert extended.status_code == 200, extended.json()
    retired = grocer.post(f"{OFFERS}/{offer.pk}/retire")
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert EventPayload.objects.filter(event__type="offer.retired").count() == 2
    again = grocer.post(f"{OFFERS}/{offer.pk}/retire")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


def test_a_draft_cannot_be_retired_or_approved_out_of_turn(world):
    offer = draft(world)
    with pytest.raises(services.OfferTransitionError):
        services.offer_approve(offer_id=offer.pk, actor="admin")
    response = api(world.grocer).post(f"{OFFERS}/{offer.pk}/retire")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_a_non_sponsor_sees_none_of_it(world):
    offer = draft(world)
    stranger = api(world.stranger)
    assert stranger.get(OFFERS).json()["results"] == []
    for response in (
        stranger.get(f"{OFFERS}/{offer.pk}"),
        stranger.patch(f"{OFFERS}/{offer.pk}", {"title": "x"}, format="json"),
        stranger.post(f"{OFFERS}/{offer.pk}/submit"),
        stranger.post(f"{OFFERS}/{offer.pk}/retire"),
        stranger.get(f"{OFFERS}/{offer.pk}/redemptions"),
        stranger.post(
            f"{OFFERS}/{offer.pk}/redemptions",
            {"customer_id": world.links["ada", "stranger"].pk, "external_id": "x"},
            format="json",
        ),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_scopes_are_enforced(world):
    offer = published(world)
    reader = api(world.grocer, scopes="offers:read")
    assert reader.post(OFFERS, _create_body(world), format="json").status_code == 403
    assert reader.post(f"{OFFERS}/{offer.pk}/retire").status_code == 403
    redeem = reader.post(
        f"{OFFERS}/{offer.pk}/redemptions",
        {"customer_id": world.links["ada", "grocer"].pk, "external_id": "r"},
        format="json",
    )
    assert redeem.status_code == 403
    assert api(world.grocer, scopes="offers:redeem").get(OFFERS).status_code == 403


# --- redemptions --------------------------------------------------------------------------


def _redeem(world, offer, who="ada", partner="grocer", external_id="till-1", client=None):
    client = client or api(getattr(world, partner))
    return client.post(
        f"{OFFERS}/{offer.pk}/redemptions",
        {"customer_id": world.links[who, partner].pk, "external_id": external_id},
        format="json",
    )


def test_a_redemption_tells_both_sponsors_each_under_its_own_id(world):
    offer = published(world)
    response = _redeem(world, offer)
    assert response.status_code == 201, response.json()
    assert response.json()["customer_id"] == world.links["ada", "grocer"].pk
    payloads = {
        p.partner_id: json.loads(p.body)["data"]
        for p in EventPayload.objects.filter(event__type="offer.redeemed")
    }
    assert payloads[world.grocer.pk]["customer_id"] == world.links["ada", "grocer"].pk
    assert payloads[world.gym.pk]["customer_id"] == world.links["ada", "gym"].pk
    assert payloads[world.gym.pk]["redemption_count"] == 1
    logged = AccessEvent.objects.filter(customer=world.ada, purpose="offers")
    assert sorted(logged.values_list("partner_id", flat=True)) == sorted(
        [world.grocer.pk, world.gym.pk]
    )
    assert all(row.fields == ["offer.redemption"] for row in logged)


def test_a_sponsor_without_the_customers_offers_consent_hears_only_the_count(world):
    # Ada consented to the gym's offers, not the grocer's: the grocer records, the gym
    # hears her id; record through the gym instead and the grocer hears no id.
    offer = published(world)
    assert _redeem(world, offer, partner="gym").status_code == 201
    payloads = {
        p.partner_id: json.loads(p.body)["data"]
        for p in EventPayload.objects.filter(event__type="offer.redeemed")
    }
    assert payloads[world.grocer.pk]["customer_id"] is None
    assert payloads[world.gym.pk]["customer_id"] == world.links["ada", "gym"].pk
    logged = AccessEvent.objects.filter(customer=world.ada, purpose="offers")
    assert list(logged.values_list("partner_id", flat=True)) == [world.gym.pk]


def test_redemptions_are_idempotent_per_external_id(world):
    offer = published(world)
    first = _redeem(world, offer)
    again = _redeem(world, offer)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert Redemption.objects.count() == 1
    offer.refresh_from_db()
    assert offer.redemption_count == 1
    reused = _redeem(world, offer, who="ben")
    assert reused.status_code == 409 and reused.json()["code"] == "external_id_reused"


def test_a_customer_without_offers_consent_is_not_eligible(world):
    offer = published(world)
    response = _redeem(world, offer, who="ben")
    assert response.status_code == 403
    assert response.json()["code"] == "customer_not_eligible"
    assert not Redemption.objects.exists()


def test_a_withdrawn_consent_refuses_the_next_redemption(world):
    offer = published(world)
    consent_withdraw(consent=world.consent, customer=world.ada)
    response = _redeem(world, offer)
    assert response.status_code == 403 and response.json()["code"] == "customer_not_eligible"


def test_caps_total_and_per_customer(world):
    offer = published(world, cap_total=1)
    assert _redeem(world, offer).status_code == 201
    second = _redeem(world, offer, external_id="till-2")
    assert second.status_code == 409 and second.json()["code"] == "cap_reached"
    other = published(world, cap_per_customer=1)
    assert _redeem(world, other).status_code == 201
    mine = _redeem(world, other, external_id="till-3")
    assert mine.status_code == 409 and mine.json()["code"] == "customer_cap_reached"


def test_only_live_offers_are_redeemed(world):
    offer = draft(world)
    invited = _redeem(world, offer, partner="gym")  # named, but has not accepted
    assert invited.status_code == 403 and invited.json()["code"] == "invalid_party"
    response = _redeem(world, offer)
    assert response.status_code == 409 and response.json()["code"] == "offer_not_live"
    live = published(world)
    Partner.objects.filter(pk=world.gym.pk).update(status=Partner.Status.SUSPENDED)
    paused = _redeem(world, live)
    assert paused.status_code in (403, 409)
    assert not Redemption.objects.exists()


def test_a_customer_id_that_is_not_yours_is_404(world):
    offer = published(world)
    response = api(world.grocer).post(
        f"{OFFERS}/{offer.pk}/redemptions",
        {"customer_id": world.links["ada", "gym"].pk, "external_id": "x"},
        format="json",
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_redemption_list_shows_each_sponsor_its_own_ids(world):
    offer = published(world)
    _redeem(world, offer)
    mine = api(world.grocer).get(f"{OFFERS}/{offer.pk}/redemptions").json()["results"]
    theirs = api(world.gym).get(f"{OFFERS}/{offer.pk}/redemptions").json()["results"]
    assert mine[0]["customer_id"] == world.links["ada", "grocer"].pk
    assert mine[0]["external_id"] == "till-1"
    assert theirs[0]["customer_id"] == world.links["ada", "gym"].pk
    assert theirs[0]["external_id"] is None


# --- query pins ---------------------------------------------------------------------------


def test_the_offer_list_is_flat_in_offers_and_sponsors(world, django_assert_max_num_queries):
    extra = [make_partner() for _ in range(3)]
    from tests.builders import make_partnership

    for partner in extra:
        make_partnership(world.grocer, partner, purpose="referral", categories=("contact.email",))
    for _ in range(6):
        draft(world, co_sponsors=[world.gym.pk, *(p.pk for p in extra)])
    grocer = api(world.grocer)
    grocer.get(OFFERS)  # warm the token cache
    with django_assert_max_num_queries(6):
        response = grocer.get(OFFERS)
    assert len(response.json()["results"]) == 6


def test_the_redemption_list_is_flat(world, django_assert_max_num_queries):
    offer = published(world, cap_per_customer=50)
    for n in range(5):
        _redeem(world, offer, external_id=f"till-{n}")
    grocer = api(world.grocer)
    grocer.get(f"{OFFERS}/{offer.pk}/redemptions")
    with django_assert_max_num_queries(6):
        response = grocer.get(f"{OFFERS}/{offer.pk}/redemptions")
    assert len(response.json()["results"]) == 5
