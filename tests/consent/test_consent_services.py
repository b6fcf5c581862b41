"""Consent records through the services: the lifecycle, its refusals, and its reactions."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import Consent, ConsentEvent
from consent.services.consents import (
    consent_amend,
    consent_grant,
    consent_request_approve,
    consent_request_create,
    consent_request_refuse,
    consent_requests_lapse,
    consent_withdraw,
    consents_expire,
    consents_withdraw_with_partner,
)
from consent.services.erasure import customer_erase
from ecosystem.errors import ApplicationError
from partners.models import Partner, Purpose
from partners.services.partners import partner_offboard
from partners.services.partnerships import FlowSpec, partnership_end, partnership_set_flows
from tests.builders import (
    make_consent,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
)

VISITS = ["activity.visits"]
BOTH = ["activity.purchases", "activity.visits"]


def request(flow, categories=BOTH, **overrides):
    fields = {
        "partner_id": flow.source.pk,
        "client_id": "cli_test",
        "customer_id": flow.source_link.pk,
        "recipient_id": flow.recipient.pk,
        "purpose_code": "rewards",
        "data_categories": categories,
        "message": "We would like to reward your gym visits.",
    }
    fields.update(overrides)
    return consent_request_create(**fields)


def refusal(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    return caught.value


def transitions(consent) -> list[tuple[str, str]]:
    return list(
        ConsentEvent.objects.filter(consent=consent).values_list("from_status", "to_status")
    )


# --- requests -------------------------------------------------------------------------------


def test_a_request_records_the_notice_shown_and_lapse_time(flow, settings):
    settings.CONSENT_REQUEST_LAPSE_HOURS = 48

    consent = request(flow)

    assert consent.status == "requested"
    assert consent.data_categories == BOTH
    assert consent.partnership == flow.partnership
    assert consent.notice.purpose_id == "rewards"
    shown = consent.notice.text.replace("{source}", "Pulse Fitness").replace(
        "{recipient}", "Harbor Mutual"
    )
    assert "Pulse Fitness may share" in shown
    assert consent.notice_sha256 == hashlib.sha256(shown.encode()).hexdigest()
    assert consent.request_message == "We would like to reward your gym visits."
    assert timedelta(hours=47) < consent.lapses_at - timezone.now() <= timedelta(hours=48)
    assert transitions(consent) == [("", "requested")]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"recipient_id": "par_nobody"}, "partnership_required"),
        ({"purpose_code": "referral"}, "partnership_required"),
        ({"data_categories": ["activity.visits", "policy.status"]}, "partnership_required"),
        ({"data_categories": []}, "categories_required"),
        ({"purpose_code": "telepathy"}, "unknown_purpose"),
        ({"customer_id": "cus_unknown"}, "not_found"),
    ],
)
def test_a_request_outside_an_active_flow_is_refused(flow, overrides, code):
    error = refusal(lambda: request(flow, **overrides))

    assert error.code == code
    assert not Consent.objects.exists()


def test_a_request_needs_a_confirmed_link(flow):
    flow.source_link.status = "pending"
    flow.source_link.save()

    assert refusal(lambda: request(flow)).code == "link_not_active"


def test_a_request_with_another_partners_pairwise_id_is_not_found(flow):
    assert refusal(lambda: request(flow, customer_id=flow.recipient_link.pk)).code == "not_found"


def test_single_partner_purposes_have_the_caller_as_recipient(flow):
    # Naming another recipient is refused for what it is, before any request exists.
    assert refusal(lambda: request(flow, purpose_code="offers", categories=[])).code == (
        "invalid_recipient"
    )

    consent = request(flow, recipient_id=None, purpose_code="offers", categories=[])

    assert (consent.source, consent.recipient) == (flow.source, flow.source)


def test_a_second_live_request_for_the_same_flow_is_refused(flow):
    request(flow)

    assert refusal(lambda: request(flow)).code == "consent_exists"


def test_the_database_allows_one_live_record_per_flow(flow):
    make_consent(flow.customer, flow.source, flow.recipient, partnership=flow.partnership)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_consent(flow.customer, flow.source, flow.recipient, status="requested")
    # terminal records may repeat
    make_consent(flow.customer, flow.source, flow.recipient, status="withdrawn")
    make_consent(flow.customer, flow.source, flow.recipient, status="withdrawn")


def test_a_request_is_refused_when_the_partnership_has_not_started(flow):
    flow.partnership.valid_from = timezone.now() + timedelta(days=1)
    flow.partnership.save()

    assert refusal(lambda: request(flow)).code == "partnership_required"


def test_a_request_is_refused_when_the_recipient_is_suspended(flow):
    Partner.objects.filter(pk=flow.recipient.pk).update(status="suspended")

    assert refusal(lambda: request(flow)).code == "partnership_required"


# --- answering a request --------------------------------------------------------------------


def test_approving_with_fewer_categories_activates_only_those(flow, settings):
    settings.CONSENT_DEFAULT_DAYS = 90
    consent = request(flow)

    consent = consent_request_approve(
        consent=consent, customer=flow.customer, data_categories=VISITS
    )

    consent.refresh_from_db()
    assert consent.status == "active"
    assert consent.data_categories == VISITS
    assert consent.expires_at - consent.granted_at == timedelta(days=90)
    assert transitions(consent) == [("", "requested"), ("requested", "active")]


def test_approving_categories_that_were_not_asked_for_is_refused(flow):
    consent = request(flow, categories=VISITS)

    error = refusal(
        lambda: consent_request_approve(
            consent=consent, customer=flow.customer, data_categories=BOTH
        )
    )

    assert error.code == "invalid_categories"
    consent.refresh_from_db()
    assert consent.status == "requested"


def test_another_customer_cannot_answer_a_request(flow):
    consent = request(flow)
    stranger = make_customer()

    assert refusal(lambda: consent_request_approve(consent=consent, customer=stranger)).code == (
        "not_found"
    )
    assert refusal(lambda: consent_request_refuse(consent=consent, customer=stranger)).code == (
        "not_found"
    )


def test_approving_after_the_flow_was_removed_is_refused(flow):
    consent = request(flow)
    # Narrowing without the lifecycle reaction: the approval must check the flow again.
    flow.partnership.flows.all().delete()

    error = refusal(lambda: consent_request_approve(consent=consent, customer=flow.customer))

    assert error.code == "partnership_required"


def test_a_refused_request_cannot_be_approved(flow):
    consent = request(flow)
    consent_request_refuse(consent=consent, customer=flow.customer)

    error = refusal(lambda: consent_request_approve(consent=consent, customer=flow.customer))

    assert error.code == "invalid_transition"
    consent.refresh_from_db()
    assert consent.status == "refused"


def test_a_request_past_its_lapse_time_lapses_when_answered(flow):
    consent = request(flow)
    Consent.objects.filter(pk=consent.pk).update(lapses_at=timezone.now() - timedelta(seconds=1))

    error = refusal(lambda: consent_request_approve(consent=consent, customer=flow.customer))

    assert error.code == "request_lapsed"
    consent.refresh_from_db()
    assert consent.status == "lapsed"  # committed, although the approval was refused


@pytest.mark.parametrize("answer", [consent_request_approve, consent_request_refuse])
def test_any_answer_to_a_request_past_its_lapse_time_records_the_lapse(flow, answer):
    consent = request(flow)
    Consent.objects.filter(pk=consent.pk).update(lapses_at=timezone.now() - timedelta(seconds=1))

    error = refusal(lambda: answer(consent=consent, customer=flow.customer))

    assert error.code == "request_lapsed"
    assert ConsentEvent.objects.filter(consent=consent).latest("id").reason == (
        "Not answered in time."
    )
    consent.refresh_from_db()
    assert consent.status == "lapsed"


@pytest.mark.parametrize("act", ["withdraw", "amend", "end the partnership", "erase"])
def test_whatever_meets_an_overdue_consent_first_records_its_expiry(flow, act):
    consent = grant(flow)
    now = timezone.now()
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=now - timedelta(days=20), expires_at=now - timedelta(seconds=1)
    )
    consent.refresh_from_db()
    acts = {
        "withdraw": lambda: consent_withdraw(consent=consent, customer=flow.customer),
        "amend": lambda: consent_amend(
            consent=consent, customer=flow.customer, data_categories=list(VISITS)
        ),
        "end the partnership": lambda: partnership_end(partnership=flow.partnership, actor=None),
        "erase": lambda: customer_erase(customer=flow.customer),
    }

    with contextlib.suppress(ApplicationError):  # withdraw and amend refuse, after recording
        acts[act]()

    consent.refresh_from_db()
    assert consent.status == "expired"
    assert ConsentEvent.objects.filter(consent=consent).latest("id").reason == (
        "Reached its expiry."
    )


def test_the_lapse_job_lapses_only_due_requests(flow):
    due = request(flow)
    Consent.objects.filter(pk=due.pk).update(lapses_at=timezone.now() - timedelta(minutes=1))
    not_due = request(flow, purpose_code="offers", recipient_id=None, categories=[])

    assert consent_requests_lapse() == 1

    due.refresh_from_db()
    not_due.refresh_from_db()
    assert (due.status, not_due.status) == ("lapsed", "requested")
    assert consent_requests_lapse() == 0  # safe to run twice


# --- grant, withdraw, amend ---------------------------------------------------------------


def grant(flow, categories=VISITS, **kw):
    return consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=categories,
        **kw,
    )


def test_a_grant_lasts_at_most_365_days(flow):
    assert refusal(lambda: grant(flow, days=366)).code == "invalid_duration"
    granted = grant(flow, days=365)
    assert granted.expires_at - granted.granted_at == timedelta(days=365)


def test_withdrawing_is_immediate_and_final(flow):
    consent = grant(flow)

    consent_withdraw(consent=consent, customer=flow.customer)

    consent.refresh_from_db()
    assert consent.status == "withdrawn"
    assert consent.ended_at is not None
    assert refusal(lambda: consent_withdraw(consent=consent, customer=flow.customer)).code == (
        "invalid_transition"
    )
    assert transitions(consent)[-1] == ("active", "withdrawn")


def test_withdrawing_an_expired_consent_marks_it_expired(flow):
    consent = grant(flow)
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert refusal(lambda: consent_withdraw(consent=consent, customer=flow.customer)).code == (
        "consent_expired"
    )
    consent.refresh_from_db()
    assert consent.status == "expired"


def test_another_customer_cannot_withdraw(flow):
    consent = grant(flow)

    assert refusal(lambda: consent_withdraw(consent=consent, customer=make_customer())).code == (
        "not_found"
    )


def test_stop_all_sharing_with_a_partner_ends_everything_that_involves_it(flow):
    rewards = grant(flow)
    offers = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=flow.recipient.pk,
        recipient_id=flow.recipient.pk,
        data_categories=[],
    )
    pulse_offers = request(flow, purpose_code="offers", recipient_id=None, categories=[])

    events = consents_withdraw_with_partner(customer=flow.customer, partner_id=flow.recipient.pk)

    statuses = dict(Consent.objects.values_list("pk", "status"))
    assert statuses == {
        rewards.pk: "withdrawn",
        offers.pk: "withdrawn",
        pulse_offers.pk: "requested",  # only involves Pulse
    }
    assert len(events) == 2


def test_amending_supersedes_the_old_record_with_a_new_one(flow):
    old = grant(flow, categories=BOTH)

    new = consent_amend(consent=old, customer=flow.customer, data_categories=VISITS)

    old.refresh_from_db()
    assert old.status == "superseded"
    assert new.status == "active"
    assert new.supersedes == old
    assert new.data_categories == VISITS
    assert (
        refusal(
            lambda: consent_amend(consent=old, customer=flow.customer, data_categories=VISITS)
        ).code
        == "invalid_transition"
    )


# --- expiry -------------------------------------------------------------------------------


def test_the_expiry_job_marks_expired_consents_and_is_safe_to_rerun(flow):
    consent = grant(flow)
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=timezone.now() - timedelta(days=30),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    fresh = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=flow.source.pk,
        recipient_id=flow.source.pk,
        data_categories=[],
    )

    assert consents_expire() == 1
    assert consents_expire() == 0

    consent.refresh_from_db()
    fresh.refresh_from_db()
    assert (consent.status, fresh.status) == ("expired", "active")
    assert transitions(consent)[-1] == ("active", "expired")


def test_the_expiry_job_reads_no_partner_purpose_or_delivery_row_per_consent(
    flow, django_assert_max_num_queries
):
    for _ in range(3):
        customer = make_customer()
        make_link(customer, flow.source)
        make_link(customer, flow.recipient)
        consent_grant(
            customer=customer,
            purpose=Purpose.objects.get(pk="rewards"),
            source_id=flow.source.pk,
            recipient_id=flow.recipient.pk,
            data_categories=VISITS,
        )
    now = timezone.now()
    Consent.objects.update(
        granted_at=now - timedelta(days=20), expires_at=now - timedelta(seconds=1)
    )

    # Per consent: its update, event, receipts, links, outbox (3), notifications, access
    # log (3), savepoint, its pending rewards (exchanges.rewards voids them); plus the
    # batch's select and savepoint (was 51 with the re-reads).
    with django_assert_max_num_queries(45):
        assert consents_expire() == 3


# --- reactions to partners and partnerships ---------------------------------------------------


def test_ending_the_partnership_terminates_its_consents_and_emails_the_customer(
    flow, mailbox, eager_tasks, django_capture_on_commit_callbacks
):
    consent = grant(flow)
    asked = request(flow, purpose_code="offers", recipient_id=None, categories=[])

    with django_capture_on_commit_callbacks(execute=True):
        partnership_end(partnership=flow.partnership, actor=None)

    consent.refresh_from_db()
    asked.refresh_from_db()
    assert consent.status == "terminated"
    assert "partnership" in consent.ended_reason
    assert asked.status == "requested"  # a single-partner request does not depend on it
    assert len(mailbox) == 1
    assert mailbox[0].to == ["Ada.Lovelace@mail.example"]
    assert "Pulse Fitness sharing with Harbor Mutual" in mailbox[0].body
    assert "Ada" not in mailbox[0].body


def test_narrowing_a_flow_terminates_only_consents_carrying_a_removed_category(flow):
    visits_only = grant(flow, categories=VISITS)
    other = make_customer()
    make_link(other, flow.source)
    both = consent_grant(
        customer=other,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=BOTH,
    )

    partnership_set_flows(
        partnership=flow.partnership,
        flows=[
            FlowSpec(flow.source.pk, flow.recipient.pk, "rewards", frozenset(VISITS)),
        ],
        actor=None,
    )

    visits_only.refresh_from_db()
    both.refresh_from_db()
    assert (visits_only.status, both.status) == ("active", "terminated")


def test_offboarding_a_partner_terminates_its_single_partner_consents_too(flow):
    offers = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=flow.source.pk,
        recipient_id=flow.source.pk,
        data_categories=[],
    )
    rewards = grant(flow)

    partner_offboard(partner=flow.source, actor=None)

    assert set(Consent.objects.values_list("status", flat=True)) == {"terminated"}
    assert {offers.pk, rewards.pk} == set(Consent.objects.values_list("pk", flat=True))


def test_offboarding_emails_each_customer_once_whatever_ended(
    flow, mailbox, eager_tasks, django_capture_on_commit_callbacks
):
    third = make_partner(name="Fresh Basket")
    make_partnership(flow.source, third)
    make_link(flow.customer, third)
    grant(flow)
    consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=third.pk,
        data_categories=VISITS,
    )
    consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=flow.source.pk,
        recipient_id=flow.source.pk,
        data_categories=[],
    )

    with django_capture_on_commit_callbacks(execute=True):
        partner_offboard(partner=flow.source, actor=None)

    assert set(Consent.objects.values_list("status", flat=True)) == {"terminated"}
    (email,) = mailbox  # two partnerships and an offers consent ended: one email
    assert email.body.count("Pulse Fitness has left the ecosystem.") == 3


def test_narrowing_several_flows_emails_each_customer_once(
    flow, mailbox, eager_tasks, django_capture_on_commit_callbacks
):
    partnership_set_flows(
        partnership=flow.partnership,
        flows=[
            FlowSpec(flow.source.pk, flow.recipient.pk, "rewards", frozenset(BOTH)),
            FlowSpec(flow.recipient.pk, flow.source.pk, "rewards", frozenset(BOTH)),
        ],
        actor=None,
    )
    grant(flow, categories=BOTH)
    consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.recipient.pk,
        recipient_id=flow.source.pk,
        data_categories=BOTH,
    )

    with django_capture_on_commit_callbacks(execute=True):
        partnership_set_flows(partnership=flow.partnership, flows=[], actor=None)

    assert set(Consent.objects.values_list("status", flat=True)) == {"terminated"}
    (email,) = mailbox
    assert email.body.count("The partnership no longer allows") == 2


def test_suspending_a_partner_keeps_its_consents(flow):
    from partners.services.partners import partner_suspend

    consent = grant(flow)

    partner_suspend(partner=flow.source, actor=None, reason="Unpaid invoice")

    consent.refresh_from_db()
    assert consent.status == "active"
