"""Referrals in /admin/ (every referral, read-only, no customer data) and in the partner
console (a partner's own sent and received referrals, under its own pairwise ids)."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import PartnerLink
from consent.services.consents import consent_grant
from exchanges.referrals.models import Referral
from exchanges.referrals.services import referral_create, referral_decline
from partners.models import Purpose
from tests.builders import (
    make_client,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
    make_staff,
)

ADMIN = "/admin/referrals/referral/"
CONSOLE = "/partner-admin/referrals/referral/"
NOTE = "Keen cook, ask for Ada"


@pytest.fixture
def ref(db):
    """A gym that refers to a grocer, an insurer that refers to the gym, and an outsider.
    One customer, known to the gym and the insurer, consented to both referrals: ``out`` is
    the gym's (to the grocer), ``inbound`` the insurer's (to the gym)."""

    class Ref:
        pass

    r = Ref()
    r.gym = make_partner(name="Pulse Fitness")
    r.grocer = make_partner(name="Fresh Basket")
    r.insurer = make_partner(name="Harbor Mutual")
    r.outsider = make_partner(name="Outside Brand")
    r.gym_grocer = make_partnership(
        r.gym, r.grocer, purpose="referral", categories=("contact.name", "contact.email")
    )
    r.insurer_gym = make_partnership(
        r.insurer, r.gym, purpose="referral", categories=("contact.name", "contact.email")
    )
    r.customer = make_customer(email="ada@mail.example", name="Ada Lovelace")
    r.gym_link = make_link(r.customer, r.gym)
    r.insurer_link = make_link(r.customer, r.insurer)
    r.out = refer(r, r.customer, r.gym_link, r.gym, r.grocer, note=NOTE)
    r.inbound = refer(r, r.customer, r.insurer_link, r.insurer, r.gym)
    r.grocer_link = PartnerLink.objects.get(customer=r.customer, partner=r.grocer)
    return r


def refer(r, customer, link, source, recipient, note=""):
    consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=source.pk,
        recipient_id=recipient.pk,
        data_categories=["contact.name", "contact.email"],
    )
    return referral_create(
        from_partner_id=source.pk,
        client_id=make_client(source).pk,
        customer_id=link.pk,
        to_partner_id=recipient.pk,
        note=note,
    )


def more_referrals(r, count):
    """``count`` more customers, each referred by the gym to the grocer."""
    for n in range(count):
        customer = make_customer(email=f"person{n}@mail.example", name=f"Person{n} Surname")
        refer(r, customer, make_link(customer, r.gym), r.gym, r.grocer, note=f"note {n}")


def queries_for(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.fixture
def as_admin(ref, client, ecosystem_admin):
    """``client``, signed in as an ecosystem admin (pytest-django's as_admin is not
    used: it builds its own superuser)."""
    return client


def console_for(client, partner):
    client.force_login(make_staff(partner))
    return client


# --- /admin/ -------------------------------------------------------------------------------


def test_the_admin_list_shows_referrals_without_customer_data_or_notes(ref, as_admin):
    more_referrals(ref, 3)

    page = as_admin.get(ADMIN).content.decode()

    assert ref.out.pk in page and ref.inbound.pk in page
    assert "Pulse Fitness" in page and "Fresh Basket" in page
    assert "@mail.example" not in page and "Lovelace" not in page and "Surname" not in page
    assert NOTE not in page and "note 0" not in page
    assert ref.out.snapshot_sealed not in page


def test_the_admin_list_makes_the_same_number_of_queries_for_more_rows(
    ref, as_admin, django_assert_max_num_queries
):
    few, _ = queries_for(as_admin, ADMIN)
    more_referrals(ref, 6)

    with django_assert_max_num_queries(10):
        many, page = queries_for(as_admin, ADMIN)

    assert page.count('class="field-id"') == Referral.objects.count() == 8
    assert many == few


def test_the_admin_change_page_shows_neither_the_note_nor_the_snapshot(ref, as_admin):
    page = as_admin.get(f"{ADMIN}{quote(ref.out.pk)}/change/").content.decode()

    assert ref.customer.pk in page and ref.out.note_sealed
    assert NOTE not in page and ref.out.note_sealed not in page
    assert "ada@mail.example" not in page and "Lovelace" not in page
    assert ref.out.snapshot_sealed not in page and "snapshot_sealed" not in page
    assert "contact.email" in page  # the category names, not their values
    assert 'name="note"' not in page  # read-only


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("status__exact=declined", "inbound", "out"),
        ("from_partner__id__exact={gym}", "out", "inbound"),
        ("to_partner__id__exact={gym}", "inbound", "out"),
        ("partnership__id__exact={insurer_gym}", "inbound", "out"),
        ("q={out}", "out", "inbound"),
    ],
)
def test_the_admin_list_filters(ref, as_admin, query, shown, hidden):
    referral_decline(referral=ref.inbound, partner_id=ref.gym.pk, actor=None)
    ids = {
        "gym": ref.gym.pk,
        "insurer_gym": ref.insurer_gym.pk,
        "out": ref.out.pk,
    }

    page = as_admin.get(f"{ADMIN}?{query.format(**ids)}").content.decode()

    assert getattr(ref, shown).pk in page and getattr(ref, hidden).pk not in page


def test_admins_cannot_add_change_or_delete_referrals(ref, as_admin):
    change_url = f"{ADMIN}{quote(ref.out.pk)}/change/"

    add = as_admin.get(f"{ADMIN}add/")
    delete = as_admin.get(f"{ADMIN}{quote(ref.out.pk)}/delete/")
    change = as_admin.post(change_url, {"status": "withdrawn"})
    bulk_delete = as_admin.post(
        ADMIN, {"action": "delete_selected", "_selected_action": [ref.out.pk]}
    )

    assert (add.status_code, delete.status_code, change.status_code) == (403, 403, 403)
    assert bulk_delete.status_code in {200, 302}  # no such action here: nothing happens
    ref.out.refresh_from_db()
    assert ref.out.status == "sent"
    assert Referral.objects.count() == 2
    assert 'value="delete_selected"' not in as_admin.get(ADMIN).content.decode()
    page = as_admin.get(change_url).content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page


# --- the partner console -------------------------------------------------------------------


def test_the_console_shows_sent_and_received_referrals_under_the_partners_own_id(ref, client):
    console_for(client, ref.gym)

    page = client.get(CONSOLE).content.decode()

    assert ref.out.pk in page and ref.inbound.pk in page
    assert '<td class="field-direction_display">Inbound</td>' in page
    assert '<td class="field-direction_display">Outbound</td>' in page
    assert "Fresh Basket" in page and "Harbor Mutual" in page
    assert ref.gym_link.pk in page
    assert ref.grocer_link.pk not in page and ref.insurer_link.pk not in page
    assert ref.customer.pk not in page and "cst_" not in page
    assert "ada@mail.example" not in page and "Lovelace" not in page


def test_the_recipient_sees_its_own_id_for_the_customer(ref, client):
    console_for(client, ref.grocer)

    page = client.get(CONSOLE).content.decode()

    assert ref.out.pk in page and ref.inbound.pk not in page
    assert ref.grocer_link.pk in page and ref.gym_link.pk not in page
    assert "cst_" not in page


def test_the_console_change_page_shows_no_internal_or_other_ids_nor_the_data_or_note(ref, client):
    console_for(client, ref.gym)

    page = client.get(f"{CONSOLE}{quote(ref.out.pk)}/change/").content.decode()

    assert ref.out.pk in page and ref.gym_link.pk in page and NOTE not in page
    assert ref.grocer_link.pk not in page and "cst_" not in page
    assert "ada@mail.example" not in page and "Lovelace" not in page
    assert ref.out.snapshot_sealed not in page
    assert 'name="_save"' not in page


def test_the_console_direction_filter(ref, client):
    console_for(client, ref.gym)

    received = client.get(f"{CONSOLE}?direction=inbound").content.decode()
    sent = client.get(f"{CONSOLE}?direction=outbound").content.decode()

    assert ref.inbound.pk in received and ref.out.pk not in received
    assert ref.out.pk in sent and ref.inbound.pk not in sent


def test_another_partners_staff_cannot_see_or_open_the_referral(ref, client):
    console_for(client, ref.outsider)

    page = client.get(CONSOLE).content.decode()
    missing = client.get(f"{CONSOLE}ref_missing/change/")
    theirs = client.get(f"{CONSOLE}{quote(ref.out.pk)}/change/")
    history = client.get(f"{CONSOLE}{quote(ref.out.pk)}/history/")

    assert ref.out.pk not in page and ref.inbound.pk not in page
    assert (theirs.status_code, theirs.get("Location")) == (
        missing.status_code,
        missing.get("Location"),
    )
    assert theirs.status_code == 302
    assert history.status_code == 302
    searched = client.get(f"{CONSOLE}?q={ref.out.pk}").content.decode()
    assert 'class="field-id"' not in searched and "0 referrals" in searched


def test_the_console_cannot_add_change_or_delete_referrals(ref, client):
    console_for(client, ref.gym)

    assert client.get(f"{CONSOLE}add/").status_code == 403
    assert client.get(f"{CONSOLE}{quote(ref.out.pk)}/delete/").status_code == 403
    client.post(f"{CONSOLE}{quote(ref.out.pk)}/change/", {"status": "withdrawn"})

    ref.out.refresh_from_db()
    assert ref.out.status == "sent"


def test_the_console_list_makes_the_same_number_of_queries_for_more_rows(
    ref, client, django_assert_max_num_queries
):
    console_for(client, ref.gym)
    few, _ = queries_for(client, CONSOLE)
    more_referrals(ref, 6)

    with django_assert_max_num_queries(7):
        many, page = queries_for(client, CONSOLE)

    assert page.count('class="field-id"') == 8
    assert many == few
