"""The access log: a row per disclosure, hash-chained per customer, tips signed."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.admin.utils import quote
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from consent.models import AccessChainHead, AccessEvent
from consent.services.access import (
    Access,
    access_chains_verify,
    access_checkpoint,
    access_record,
)
from consent.services.consents import consent_grant, consent_request_create
from partners.models import Purpose
from tests.builders import api_client_for, make_client, make_customer, make_token


def note(customer, n: int = 1) -> None:
    for _ in range(n):
        access_record(
            Access(customer_id=customer.pk, channel="api", actor="client:cli_x", fields=("x",))
        )


def sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def verify_command() -> str:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_chain", stdout=out, stderr=err)
    except CommandError as error:
        return f"FAILED {error} {err.getvalue()}"
    return out.getvalue()


@pytest.fixture
def chains(db):
    ada, ben = make_customer(), make_customer()
    note(ada, 4)
    note(ben, 2)
    return ada, ben


def test_verifying_reads_the_log_in_one_pass_however_many_chains(
    chains, django_assert_max_num_queries
):
    access_checkpoint()
    for _ in range(5):
        note(make_customer(), 2)

    with django_assert_max_num_queries(3):  # checkpoints, chain tips, the log itself
        assert access_chains_verify() == []


def test_intact_chains_and_checkpoints_verify(chains):
    access_checkpoint()
    note(chains[0])

    assert access_chains_verify() == []
    assert verify_command().startswith("OK: 2 chains, 7 rows, 1 signed checkpoints")


def test_an_edited_row_is_reported_as_the_first_broken_row(chains):
    ada, _ben = chains
    sql(
        "UPDATE consent_accessevent SET purpose = 'nothing' WHERE customer_id = %s AND seq = 2",
        ada.pk,
    )

    assert access_chains_verify() == [
        f"{ada.pk}: row #2 (id {AccessEvent.objects.get(customer=ada, seq=2).pk}) was changed"
    ]
    assert "FAILED" in verify_command()


def test_a_deleted_middle_row_is_reported(chains):
    ada, _ben = chains
    sql("DELETE FROM consent_accessevent WHERE customer_id = %s AND seq = 3", ada.pk)

    assert access_chains_verify() == [f"{ada.pk}: row #3 missing (next is #4)"]


def test_a_deleted_tail_is_reported_by_the_tip(chains):
    ada, _ben = chains
    sql("DELETE FROM consent_accessevent WHERE customer_id = %s AND seq = 4", ada.pk)

    assert access_chains_verify() == [f"{ada.pk}: rows after #3 missing (tip says #4)"]


def test_a_deleted_tail_is_reported_even_when_the_tip_was_rewound_too(chains):
    ada, _ben = chains
    access_checkpoint()
    row3 = AccessEvent.objects.get(customer=ada, seq=3)
    sql("DELETE FROM consent_accessevent WHERE customer_id = %s AND seq = 4", ada.pk)
    sql(
        "UPDATE consent_accesschainhead SET seq = 3, hash = %s WHERE customer_id = %s",
        row3.hash,
        ada.pk,
    )

    assert access_chains_verify() == [
        f"{ada.pk}: row #4 signed in a checkpoint is missing or changed"
    ]


def test_a_deleted_chain_is_reported(chains):
    _ada, ben = chains
    access_checkpoint()
    sql("DELETE FROM consent_accessevent WHERE customer_id = %s", ben.pk)
    sql("DELETE FROM consent_accesschainhead WHERE customer_id = %s", ben.pk)

    problems = access_chains_verify()

    assert f"{ben.pk}: chain tip missing (checkpointed at #2)" in problems


def test_a_forged_checkpoint_is_reported(chains):
    checkpoint = access_checkpoint()
    sql(
        "UPDATE consent_accesscheckpoint SET jws = %s WHERE id = %s",
        checkpoint.jws[:-4] + "AAAA",
        checkpoint.pk,
    )

    assert access_chains_verify()[0].startswith(f"checkpoint {checkpoint.pk}: signature invalid")


def test_checkpoints_sign_only_the_tips_that_moved(chains):
    ada, ben = chains
    # Both chains last moved well before this checkpoint (beyond its minute of overlap).
    AccessChainHead.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    first = access_checkpoint()
    note(ben)

    second = access_checkpoint()

    assert set(first.heads) == {ada.pk, ben.pk}
    assert set(second.heads) == {ben.pk} and second.heads[ben.pk][0] == 3


def test_erasure_leaves_the_chain_verifiable(chains):
    from consent.services.erasure import customer_erase

    ada, _ben = chains
    access_checkpoint()
    customer_erase(customer=ada)

    assert access_chains_verify() == []


# --- who writes access events --------------------------------------------------------------


def test_webhook_payloads_about_a_consent_write_one_row_per_partner(flow):
    consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=["activity.visits"],
    )

    rows = AccessEvent.objects.filter(customer=flow.customer, channel="webhook")
    assert {(r.partner_id, r.purpose) for r in rows} == {
        (flow.source.pk, "consent"),
        (flow.recipient.pk, "consent"),
    }
    assert all(r.actor.startswith("event:evt_") for r in rows)


def test_an_admin_opening_a_customer_writes_a_row(flow, client):
    from tests.builders import make_admin

    admin = make_admin()
    client.force_login(admin)

    client.get(f"/admin/consent/customer/{quote(flow.customer.pk)}/change/")

    (row,) = AccessEvent.objects.filter(customer=flow.customer)
    assert (row.channel, row.actor, row.purpose) == ("admin", f"user:{admin.pk}", "administration")
    assert row.fields == ["contact.email", "contact.name", "contact.phone"]


def _request(flow):
    return consent_request_create(
        partner_id=flow.source.pk,
        client_id="cli_x",
        customer_id=flow.source_link.pk,
        recipient_id=flow.recipient.pk,
        purpose_code="rewards",
        data_categories=["activity.visits"],
        message="Please",
    )


ROUTES = [
    # (name, method, url maker, body maker, expected (purpose, names a consent or the link)
    # rows or none)
    (
        "link detail",
        "get",
        lambda f, c: f"/api/v1/customer-links/{f.source_link.pk}",
        None,
        ("link", "link"),
    ),
    (
        "link re-post",
        "post",
        lambda f, c: "/api/v1/customer-links",
        lambda f: {"external_ref": f.source_link.external_ref, "email": "x@mail.example"},
        ("link", "link"),
    ),
    (
        "new link",
        "post",
        lambda f, c: "/api/v1/customer-links",
        lambda f: {"external_ref": "brand-new", "email": "new.person@mail.example"},
        None,
    ),
    (
        "consent list",
        "get",
        lambda f, c: f"/api/v1/customers/{f.source_link.pk}/consents",
        None,
        ("consent", "consent"),
    ),
    (
        "request detail",
        "get",
        lambda f, c: f"/api/v1/consent-requests/{c.pk}",
        None,
        ("consent", "consent"),
    ),
    (
        "request create",
        "post",
        lambda f, c: "/api/v1/consent-requests",
        lambda f: {
            "customer_id": f.source_link.pk,
            "purpose": "offers",
            "data_categories": [],
            "message": "Offers?",
        },
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "url", "body", "expected"), ROUTES, ids=[r[0] for r in ROUTES]
)
def test_every_api_route_writes_exactly_the_expected_access_events(
    flow, name, method, url, body, expected
):
    consent = _request(flow)
    client = make_client(flow.source)
    api = api_client_for(make_token(client)[1])
    before = set(AccessEvent.objects.values_list("pk", flat=True))

    response = getattr(api, method)(url(flow, consent), body(flow) if body else None, format="json")

    assert response.status_code in {200, 201}, response.content
    new = list(AccessEvent.objects.exclude(pk__in=before))
    if expected is None:
        assert new == []
        return
    purpose, names = expected
    (row,) = new
    assert (row.customer_id, row.channel, row.partner_id, row.purpose) == (
        flow.customer.pk,
        "api",
        flow.source.pk,
        purpose,
    )
    assert row.actor == f"client:{client.pk}"
    assert (row.consent_id, row.link_id) == (
        (consent.pk, None) if names == "consent" else (None, flow.source_link.pk)
    )


def test_a_page_of_consents_writes_one_row_per_consent_naming_it(flow):
    first, second = _request(flow), _request_offers(flow)
    api = api_client_for(make_token(make_client(flow.source))[1])

    response = api.get(f"/api/v1/customers/{flow.source_link.pk}/consents")

    assert response.status_code == 200 and len(response.json()["results"]) == 2
    rows = AccessEvent.objects.filter(channel="api", purpose="consent")
    assert sorted(rows.values_list("consent_id", flat=True)) == sorted([first.pk, second.pk])
    assert access_chains_verify() == []


def _request_offers(flow):
    return consent_request_create(
        partner_id=flow.source.pk,
        client_id="cli_x",
        customer_id=flow.source_link.pk,
        recipient_id=None,
        purpose_code="offers",
        data_categories=[],
        message="Offers?",
    )


# --- concurrency (PostgreSQL: SQLite has one writer at a time by design) --------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
@pytest.mark.skipif(
    "postgresql" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="row locks need PostgreSQL; CI's second pass runs this",
)
def test_appends_for_different_customers_do_not_wait_on_each_other():
    ada, ben = make_customer(), make_customer()
    note(ada)
    note(ben)
    holding, release = threading.Event(), threading.Event()
    finished: dict[str, float] = {}

    def hold_ada_chain():
        with transaction.atomic():
            note(ada)
            holding.set()
            release.wait(10)
        connection.close()

    def append(customer, label):
        note(customer)
        finished[label] = True
        connection.close()

    holder = threading.Thread(target=hold_ada_chain)
    holder.start()
    assert holding.wait(10)
    other = threading.Thread(target=append, args=(ben, "ben"))
    other.start()
    other.join(5)
    same = threading.Thread(target=append, args=(ada, "ada"))
    same.start()
    same.join(1)

    assert finished == {"ben": True}  # Ben's append went through while Ada's chain was held
    release.set()
    holder.join(10)
    same.join(10)
    assert finished == {"ben": True, "ada": True}
    assert AccessChainHead.objects.get(customer=ada).seq == 3
    assert access_chains_verify() == []
