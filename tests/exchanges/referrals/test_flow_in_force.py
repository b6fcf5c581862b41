"""One answer to "may this data flow now" (issue 14, item 3): a suspended partner or a
partnership out of its window stops the referral read, shows on the consent list, the
export and the portal; and the beat ends partnerships whose window has closed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from consent.models import AccessEvent, Consent
from consent.services.consents import consent_grant
from exchanges.referrals.models import Referral
from partners.models import Partnership, Purpose
from partners.services.partners import partner_reinstate, partner_suspend
from partners.services.partnerships import partnerships_end_lapsed
from partners.tasks import partnerships_end_lapsed_task
from partners.webhooks.models import EventPayload
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

REFERRALS = "/api/v1/referrals"


@pytest.fixture
def sent(db):
    """A gym that referred Ada to a grocer with her email, under her consent."""

    class Sent:
        pass

    s = Sent()
    s.gym = make_partner(name="Pulse Fitness")
    s.grocer = make_partner(name="Fresh Basket")
    s.partnership = make_partnership(
        s.gym, s.grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    s.customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    s.gym_link = make_link(s.customer, s.gym)
    s.consent = consent_grant(
        customer=s.customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=s.gym.pk,
        recipient_id=s.grocer.pk,
        data_categories=["contact.email"],
    )
    s.gym_api, s.grocer_api = make_api(s.gym), make_api(s.grocer)
    body = {"customer_id": s.gym_link.pk, "to_partner": s.grocer.pk, "note": "Keen cook"}
    response = s.gym_api.post(REFERRALS, body, format="json")
    assert response.status_code == 201, response.json()
    s.referral_id = response.json()["id"]
    s.grocer_customer_id = s.customer.links.get(partner=s.grocer).pk  # B's own id
    return s


def read(s):
    response = s.grocer_api.get(f"{REFERRALS}/{s.referral_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def referral_reads() -> int:
    return AccessEvent.objects.filter(purpose="referral").count()


def consent_list(api, customer_id):
    response = api.get(f"/api/v1/customers/{customer_id}/consents")
    assert response.status_code == 200, response.json()
    return {c["id"]: c for c in response.json()["results"]}


def close_window(partnership: Partnership) -> None:
    """The window closed a minute ago; the beat job has not run."""
    Partnership.objects.filter(pk=partnership.pk).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )


def test_the_recipient_reads_the_data_while_the_flow_is_in_force(sent):
    body = read(sent)

    assert body["data"] == {"contact.email": "ada@mail.example"}
    assert body["note"] == "Keen cook"
    assert referral_reads() == 1
    assert consent_list(sent.grocer_api, sent.grocer_customer_id)[sent.consent.pk]["in_force"]


def test_a_suspended_sender_stops_the_read_and_reinstating_restores_it(sent):
    partner_suspend(partner=sent.gym, actor=None, reason="Review")

    body = read(sent)

    assert (body["data"], body["note"]) == (None, None)
    assert referral_reads() == 0  # nothing left, so nothing is logged as disclosed
    listed = consent_list(sent.grocer_api, sent.grocer_customer_id)[sent.consent.pk]
    assert (listed["status"], listed["in_force"]) == ("active", False)  # the consent stays

    partner_reinstate(partner=sent.gym, actor=None)
    assert read(sent)["data"] == {"contact.email": "ada@mail.example"}


def test_a_closed_partnership_window_stops_the_read_before_the_beat_runs(sent):
    close_window(sent.partnership)

    body = read(sent)

    assert (body["data"], body["note"]) == (None, None)
    assert referral_reads() == 0
    for api, customer_id in [
        (sent.grocer_api, sent.grocer_customer_id),
        (sent.gym_api, sent.gym_link.pk),
    ]:
        listed = consent_list(api, customer_id)[sent.consent.pk]
        assert listed["in_force"] is False


def test_the_export_and_the_portal_say_when_a_consent_is_on_hold(sent, client):
    client.force_login(sent.customer.user, backend="consent.auth.CustomerEmailBackend")
    assert json.loads(client.get("/my-data/export.json").content)["consents"][0]["in_force"]
    assert "On hold" not in client.get("/").content.decode()

    close_window(sent.partnership)

    (exported,) = json.loads(client.get("/my-data/export.json").content)["consents"]
    assert (exported["status"], exported["in_force"]) == ("active", False)
    page = client.get("/").content.decode()
    assert (
        "nothing is shared under it while Pulse Fitness and Fresh Basket have no partnership "
        "in force that covers it"
    ) in page


def test_the_export_says_a_suspended_partners_consent_is_not_in_force(sent, client):
    client.force_login(sent.customer.user, backend="consent.auth.CustomerEmailBackend")

    partner_suspend(partner=sent.grocer, actor=None, reason="Review")

    (exported,) = json.loads(client.get("/my-data/export.json").content)["consents"]
    assert (exported["status"], exported["in_force"]) == ("active", False)
    page = client.get("/").content.decode()
    # Listed once, under the brand that receives it: the suspended one, which says why.
    assert "Fresh Basket is suspended from the ecosystem." in page
    assert page.count("<strong>Paused.</strong>") == 1
    assert "On hold" not in page  # the suspension says why, once


def test_the_beat_ends_partnerships_whose_window_closed_as_ending_one_does(sent, mailbox):
    other = make_partner(name="Harbor Mutual")
    current = make_partnership(sent.gym, other, purpose="referral", categories=("contact.name",))
    close_window(sent.partnership)
    assert "partnerships-end-lapsed" in {
        name
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if entry["task"] == "partners.tasks.partnerships_end_lapsed_task"
    }

    assert partnerships_end_lapsed_task() == 1

    sent.partnership.refresh_from_db()
    assert sent.partnership.status == Partnership.Status.ENDED
    assert Partnership.objects.get(pk=current.pk).status == Partnership.Status.ACTIVE
    consent = Consent.objects.get(pk=sent.consent.pk)
    assert consent.status == Consent.Status.TERMINATED
    referral = Referral.objects.get(pk=sent.referral_id)
    assert (referral.status, referral.snapshot_sealed) == ("withdrawn", "")
    told = {row.partner_id for row in EventPayload.objects.filter(event__type="consent.terminated")}
    assert told == {sent.gym.pk, sent.grocer.pk}
    assert EventPayload.objects.filter(
        event__type="referral.withdrawn", partner_id=sent.grocer.pk
    ).exists()
    assert partnerships_end_lapsed() == 0  # safe to run again


def test_the_beat_leaves_partnerships_inside_their_window(sent):
    Partnership.objects.filter(pk=sent.partnership.pk).update(
        valid_until=timezone.now() + timedelta(days=1)
    )

    assert partnerships_end_lapsed() == 0

    assert Consent.objects.get(pk=sent.consent.pk).status == Consent.Status.ACTIVE
    assert read(sent)["data"] == {"contact.email": "ada@mail.example"}
