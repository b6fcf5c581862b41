"""GET /api/v1/partner and /api/v1/partnerships, and isolation between partners."""

from datetime import timedelta

import pytest
from django.utils import timezone

from partners.models import DataCategory, Partnership, PartnershipFlow, Purpose
from tests.builders import api_client_for, make_client, make_partner, make_token


def make_partnership(x, y, *, status="active", flows=(), **overrides):
    a, b = sorted([x, y], key=lambda p: p.pk)
    partnership = Partnership.objects.create(
        partner_a=a,
        partner_b=b,
        status=status,
        valid_from=overrides.pop("valid_from", timezone.now() - timedelta(days=1)),
        **overrides,
    )
    for source, recipient, purpose, categories in flows:
        flow = PartnershipFlow.objects.create(
            partnership=partnership,
            source=source,
            recipient=recipient,
            purpose=Purpose.objects.get(code=purpose),
        )
        flow.data_categories.set(DataCategory.objects.filter(code__in=categories))
    return partnership


def test_partner_shows_the_caller_and_its_client(partner_api):
    body = partner_api.get("/api/v1/partner").json()
    assert body["id"] == partner_api.partner.id and body["slug"] == partner_api.partner.slug
    assert body["client"]["id"] == partner_api.partner_client.id
    assert "partner:read" in body["client"]["scopes"]
    assert body["status"] == "active"


def test_partnerships_lists_active_ones_with_the_other_partner_and_flows(partner_api):
    me = partner_api.partner
    gym = make_partner(name="Pulse")
    make_partnership(me, gym, flows=[(gym, me, "rewards", ["activity.visits"])])
    body = partner_api.get("/api/v1/partnerships").json()
    [item] = body["results"]
    assert item["partner"]["id"] == gym.id and item["partner"]["name"] == "Pulse"
    assert item["flows"] == [
        {
            "source": gym.id,
            "recipient": me.id,
            "purpose": "rewards",
            "data_categories": ["activity.visits"],
        }
    ]


def test_partnerships_excludes_drafts_ended_future_expired_and_other_pairs(partner_api):
    me = partner_api.partner
    now = timezone.now()
    make_partnership(me, make_partner(), status="draft")
    make_partnership(me, make_partner(), status="ended")
    make_partnership(me, make_partner(), valid_from=now + timedelta(days=1))
    make_partnership(
        me, make_partner(), valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    make_partnership(make_partner(), make_partner())  # B-C: never visible to A
    assert partner_api.get("/api/v1/partnerships").json()["results"] == []


def test_partnership_list_query_count_is_constant(partner_api, django_assert_max_num_queries):
    me = partner_api.partner
    for _ in range(5):
        other = make_partner()
        make_partnership(
            me,
            other,
            flows=[
                (me, other, "referral", ["contact.name"]),
                (other, me, "rewards", ["activity.visits"]),
            ],
        )
    partner_api.get("/api/v1/partner")  # warm the token: the pin is the list's own cost
    with django_assert_max_num_queries(3):
        body = partner_api.get("/api/v1/partnerships").json()
    assert len(body["results"]) == 5


def test_partner_detail_costs_one_query_when_the_token_is_warm(
    partner_api, django_assert_max_num_queries
):
    partner_api.get("/api/v1/partner")
    with django_assert_max_num_queries(1):
        partner_api.get("/api/v1/partner")


def test_partnerships_are_paginated_by_cursor(partner_api):
    me = partner_api.partner
    for _ in range(3):
        make_partnership(me, make_partner())
    first = partner_api.get("/api/v1/partnerships?limit=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = partner_api.get(first["next"]).json()
    assert len(second["results"]) == 1
    ids = {p["id"] for p in first["results"] + second["results"]}
    assert len(ids) == 3


@pytest.mark.parametrize("path", ["/api/v1/partner", "/api/v1/partnerships"])
def test_each_partner_sees_only_itself(db, path):
    a, b = make_client(), make_client()
    make_partnership(b.partner, make_partner())
    _, raw = make_token(a)
    body = api_client_for(raw).get(path).json()
    assert b.partner.id not in str(body)
