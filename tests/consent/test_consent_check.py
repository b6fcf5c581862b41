"""The consent check: the one answer to "may this data flow now?"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import Consent
from consent.selectors import consent_check
from partners.models import Partner, Partnership
from tests.builders import make_consent, make_customer

VISITS = ["activity.visits"]


def check(flow, categories=VISITS, **overrides):
    fields = {
        "customer_id": flow.customer.pk,
        "source_id": flow.source.pk,
        "recipient_id": flow.recipient.pk,
        "purpose": "rewards",
        "categories": categories,
    }
    fields.update(overrides)
    return consent_check(**fields)


@pytest.fixture
def consent(flow):
    return make_consent(
        flow.customer,
        flow.source,
        flow.recipient,
        partnership=flow.partnership,
        categories=("activity.visits", "activity.purchases"),
    )


def test_an_active_consent_inside_an_active_flow_allows_the_flow(
    flow, consent, django_assert_max_num_queries
):
    with django_assert_max_num_queries(2):
        assert check(flow) == consent


@pytest.mark.parametrize(
    "overrides",
    [
        {"categories": ["activity.visits", "policy.status"]},  # beyond the consent
        {"purpose": "referral"},
        {"source_id": "par_other"},
        {"customer_id": "cst_other"},
    ],
)
def test_anything_the_consent_does_not_cover_is_refused(flow, consent, overrides):
    assert check(flow, **overrides) is None


def test_the_reverse_direction_is_refused(flow, consent):
    assert check(flow, source_id=flow.recipient.pk, recipient_id=flow.source.pk) is None


def test_expiry_is_enforced_when_read_without_the_expiry_job(flow, consent):
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=timezone.now() - timedelta(days=30),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert check(flow) is None
    consent.refresh_from_db()
    assert consent.status == "active"  # not marked yet, and still not honoured


@pytest.mark.parametrize("who", ["source", "recipient"])
def test_a_suspended_partner_is_refused_while_its_consents_stay(flow, consent, who):
    Partner.objects.filter(pk=getattr(flow, who).pk).update(status="suspended")

    assert check(flow) is None
    consent.refresh_from_db()
    assert consent.status == "active"
    Partner.objects.filter(pk=getattr(flow, who).pk).update(status="active")
    assert check(flow) == consent  # reinstating restores the flow


def test_a_partnership_past_its_window_allows_nothing(flow, consent):
    Partnership.objects.filter(pk=flow.partnership.pk).update(
        valid_from=timezone.now() - timedelta(days=10),
        valid_until=timezone.now() - timedelta(seconds=1),
    )

    assert check(flow) is None


def test_a_partnership_no_longer_active_allows_nothing(flow, consent):
    Partnership.objects.filter(pk=flow.partnership.pk).update(status="ended")

    assert check(flow) is None


def test_a_category_removed_from_the_flow_is_refused_even_before_consents_are_terminated(
    flow, consent
):
    flow.partnership.flows.get().data_categories.set(["activity.purchases"])

    assert check(flow) is None
    assert check(flow, categories=["activity.purchases"]) == consent


def test_a_withdrawn_consent_allows_nothing(flow, consent):
    Consent.objects.filter(pk=consent.pk).update(status="withdrawn", ended_at=timezone.now())

    assert check(flow) is None


def test_single_partner_consents_need_only_the_partner_active(flow):
    offers = make_consent(flow.customer, flow.source, purpose="offers", categories=())

    assert check(flow, recipient_id=flow.source.pk, purpose="offers", categories=[]) == offers
    Partner.objects.filter(pk=flow.source.pk).update(status="suspended")
    assert check(flow, recipient_id=flow.source.pk, purpose="offers", categories=[]) is None


# --- the 365-day rule, in the database (runs on SQLite here and PostgreSQL in CI) --------------


def test_the_database_refuses_a_consent_longer_than_365_days(flow):
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        make_consent(
            flow.customer,
            flow.source,
            flow.recipient,
            granted_at=now,
            expires_at=now + timedelta(days=365, seconds=2),
        )
    assert not Consent.objects.exists()


def test_the_database_accepts_exactly_365_days_and_refuses_an_update_beyond(flow):
    now = timezone.now()
    consent = make_consent(
        flow.customer,
        flow.source,
        flow.recipient,
        granted_at=now,
        expires_at=now + timedelta(days=365),
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.filter(pk=consent.pk).update(expires_at=now + timedelta(days=366))
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.filter(pk=consent.pk).update(expires_at=now - timedelta(seconds=1))


def test_the_database_refuses_an_active_consent_without_a_window(flow):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_consent(make_customer(), flow.source, flow.recipient, expires_at=None)


def test_a_removed_flow_allows_nothing_even_for_no_categories(flow, consent):
    flow.partnership.flows.all().delete()

    assert check(flow, categories=[]) is None
