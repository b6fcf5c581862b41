"""The referral lists' fast rendering: rows rendered by PostgreSQL (or, elsewhere, by
ReferralOutput straight from ``values()``) must read exactly as DRF's field-by-field
serialization of the schema's ReferralOutput would write them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from rest_framework import serializers

from exchanges.referrals.api.serializers import ReferralOutput, referral_row_json
from exchanges.referrals.models import Referral
from exchanges.referrals.selectors import LIST_COLUMNS, referral_list_rows, referrals_for
from tests.builders import make_customer, make_link
from tests.exchanges.referrals import test_referrals
from tests.exchanges.referrals.test_referrals import REFERRALS, send

ref = test_referrals.ref  # the same world: a gym that refers to a grocer, with a consent

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _referral(r, **fields) -> Referral:
    values = {
        "from_partner": r.gym,
        "to_partner": r.grocer,
        "partnership_id": r.consent.partnership_id,
        "customer": make_customer(),
        "consent": r.consent,
        "status": "declined",
        "expires_at": AT + timedelta(days=30),
        **fields,
    }
    return Referral.objects.create(**values)


@pytest.fixture
def every_kind(ref):
    """One referral of every state, both directions, every optional field set and unset:
    a pairwise id and none (the caller holds no link), a value and none, a reason with
    characters JSON escapes or JavaScript reads as line ends, times with and without
    microseconds."""
    send(ref)  # sent, through the API: a real sealed snapshot and the grocer's link
    accepted = make_customer()
    make_link(accepted, ref.grocer)
    kinds = [
        _referral(
            ref,
            status="accepted",
            customer=accepted,
            snapshot_categories=["contact.name"],
            created_at=AT,
            answered_at=AT + timedelta(microseconds=1),
        ),
        _referral(
            ref,
            status="declined",
            reason='Not now — "later"\n\\ \u2028 \u2029 \x01',
            created_at=AT + timedelta(seconds=1, microseconds=500_000),
            answered_at=AT + timedelta(hours=2),
            ended_at=AT + timedelta(hours=2),
        ),
        _referral(
            ref,
            status="expired",
            created_at=AT + timedelta(seconds=2),
            ended_at=AT + timedelta(days=30),
        ),
        _referral(
            ref,
            status="withdrawn",
            reason="",
            created_at=AT + timedelta(seconds=3),
            ended_at=AT + timedelta(days=1, microseconds=999_999),
        ),
        _referral(
            ref,
            status="converted",
            customer=accepted,
            snapshot_categories=["contact.email", "contact.name"],
            value_amount=Decimal("1234567890.05"),
            value_currency="EUR",
            created_at=AT + timedelta(seconds=4),
            answered_at=AT + timedelta(hours=1),
            ended_at=AT + timedelta(days=2),
        ),
        _referral(
            ref,
            status="converted",
            value_amount=Decimal("0"),
            value_currency="JPY",
            created_at=AT + timedelta(seconds=5),
            answered_at=AT,
            ended_at=AT,
        ),
        _referral(
            ref,
            status="converted",
            created_at=AT + timedelta(seconds=6),
            answered_at=AT,
            ended_at=AT,
        ),
        # Sent by the grocer to the gym: outbound for the grocer.
        _referral(
            ref,
            status="declined",
            from_partner=ref.grocer,
            to_partner=ref.gym,
            created_at=AT + timedelta(seconds=7),
        ),
    ]
    return ref, kinds


def _as_drf_writes(referral: Referral, partner_id: str, pairwise_id: str | None) -> dict:
    """ReferralOutput's fields, each serialized by DRF itself (Serializer.to_representation,
    not the class's fast override): the schema's own reading of the row."""
    amount = referral.value_amount
    shown = SimpleNamespace(
        id=referral.pk,
        direction="inbound" if referral.to_partner_id == partner_id else "outbound",
        customer_id=pairwise_id,
        from_partner=referral.from_partner_id,
        to_partner=referral.to_partner_id,
        status=referral.status,
        note=None,
        data_categories=referral.snapshot_categories,
        data=None,
        value=None if amount is None else {"amount": amount, "currency": referral.value_currency},
        reason=referral.reason,
        created_at=referral.created_at,
        expires_at=referral.expires_at,
        answered_at=referral.answered_at,
        ended_at=referral.ended_at,
    )
    output = ReferralOutput(context={"partner_id": partner_id})
    return json.loads(json.dumps(serializers.Serializer.to_representation(output, shown)))


@pytest.mark.parametrize("direction", [None, "inbound", "outbound"])
def test_list_rows_read_as_drf_serializes_the_output_serializer(every_kind, direction):
    r, _kinds = every_kind
    partner_id = r.grocer.pk
    expected = {
        row.pk: _as_drf_writes(row, partner_id, row.pairwise_id)
        for row in referrals_for(partner_id=partner_id, direction=direction)
    }

    rows = list(referral_list_rows(partner_id=partner_id, direction=direction))
    fast = [json.loads(referral_row_json(partner_id)(row)) for row in rows]
    # The ORM path (SQLite's) on this database too, so both renderings run on PostgreSQL.
    columns = referrals_for(partner_id=partner_id, direction=direction).values(*LIST_COLUMNS)
    python = [
        ReferralOutput(context={"partner_id": partner_id}).to_representation(row) for row in columns
    ]

    assert len(expected) == {None: 9, "inbound": 8, "outbound": 1}[direction]
    assert {row["id"]: row for row in fast} == expected
    assert {row["id"]: json.loads(json.dumps(row)) for row in python} == expected
    assert ("json" in rows[0]) == (connection.vendor == "postgresql")
    if direction != "outbound":  # its one row: the grocer holds no link to that customer
        assert {row["customer_id"] is None for row in fast} == {True, False}
    if direction is None:
        assert {row["status"] for row in fast} == set(Referral.Status.values)
    assert all(set(row) == set(ReferralOutput().fields) for row in fast)


def test_the_list_page_is_json_with_the_escapes_drf_writes(every_kind):
    r, _kinds = every_kind

    response = r.grocer_api.get(REFERRALS, {"direction": "inbound", "status": "declined"})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    text = response.content.decode()
    assert "\u2028" not in text and "\\u2028" in text and "\\u2029" in text
    [row] = json.loads(text)["results"]
    assert row["reason"] == 'Not now — "later"\n\\ \u2028 \u2029 \x01'


def test_the_list_pages_forward_and_back_through_its_cursors(every_kind):
    r, _kinds = every_kind
    everything = [row["id"] for row in r.grocer_api.get(REFERRALS).json()["results"]]

    seen, pages, url = [], [], REFERRALS + "?limit=4"
    while url:
        page = r.grocer_api.get(url).json()
        pages.append(page)
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    back = r.grocer_api.get(pages[-1]["previous"]).json()

    assert len(everything) == 9 and seen == everything  # newest first, no row twice
    assert [len(page["results"]) for page in pages] == [4, 4, 1]
    assert pages[0]["previous"] is None
    assert [row["id"] for row in back["results"]] == everything[4:8]


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": ""},
        {"cursor": "bz14"},  # o=x, an offset that is no number
        {"limit": "0"},
        {"status": "lost"},
        {"direction": ""},
    ],
)
def test_a_malformed_list_query_is_refused_and_answers_no_rows(ref, query):
    send(ref)

    response = ref.grocer_api.get(REFERRALS, query)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
