"""/admin/ for customers and consents: no PII in lists, audited PII views, read-only consents
and withdrawals recorded on a customer's written request through the service."""

import re

import pytest
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.utils import timezone

from consent.models import Consent, ConsentEvent, Customer, CustomerKey
from ecosystem.models import AuditEntry, User
from tests.builders import (
    make_consent,
    make_customer,
    make_link,
    make_partner,
    make_staff,
)

CUSTOMERS = "/admin/consent/customer/"
CONSENTS = "/admin/consent/consent/"
WITHDRAW = "withdraw_on_written_request"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _found(client, term: str) -> list[str]:
    response = client.get(CUSTOMERS, {"q": term})
    assert response.status_code == 200
    return [c.pk for c in response.context["cl"].result_list]


def test_customer_list_shows_no_names_or_emails_and_no_query_per_row(
    ecosystem_admin, client, django_assert_max_num_queries
):
    customers = [
        make_customer(email=f"person{n}@mail.example", name=f"Person Number{n}") for n in range(5)
    ]

    with django_assert_max_num_queries(5):
        response = client.get(CUSTOMERS)

    html = response.content.decode()
    assert response.status_code == 200
    assert all(c.pk in html for c in customers)
    assert "@mail.example" not in html
    assert "Number" not in html
    assert not AuditEntry.objects.filter(action="customer.pii_view").exists()


def test_customer_list_counts_each_customers_links(ecosystem_admin, client, flow):
    response = client.get(CUSTOMERS)

    (row,) = response.context["cl"].result_list
    assert row.link_count == 2


FIND = f"{CUSTOMERS}find-by-email/"


@pytest.mark.parametrize(
    "term",
    ["Ada.Lovelace@mail.example", "  ada.lovelace@MAIL.EXAMPLE ", "ADA.LOVELACE@mail.example"],
)
def test_find_by_exact_email_opens_the_customer_whatever_the_case(
    ecosystem_admin, client, flow, term
):
    make_customer(email="someone.else@mail.example")

    response = client.post(FIND, {"email": term})

    assert response.status_code == 302
    assert response["Location"] == f"{CUSTOMERS}{quote(flow.customer.pk)}/change/"


@pytest.mark.parametrize("term", ["lovelace@mail.example", "Ada.Lovelace@mail", "Ada", ""])
def test_find_by_partial_email_or_name_finds_nobody_and_says_so(
    ecosystem_admin, client, flow, term
):
    response = client.post(FIND, {"email": term})

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert flow.customer.pk not in response.content.decode()


def test_the_changelist_search_refuses_email_addresses_so_they_stay_out_of_urls(
    ecosystem_admin, client, flow
):
    response = client.get(CUSTOMERS, {"q": "Ada.Lovelace@mail.example"})

    assert list(response.context["cl"].result_list) == []
    assert any("Find by email" in m for m in _messages(response))
    assert FIND in client.get(CUSTOMERS).content.decode()


def test_customer_search_by_id_finds_the_customer(ecosystem_admin, client, flow):
    make_customer()

    assert _found(client, flow.customer.pk) == [flow.customer.pk]


def test_opening_a_customer_shows_the_pii_and_records_one_audit_entry(
    ecosystem_admin, client, flow
):
    response = client.get(f"{CUSTOMERS}{quote(flow.customer.pk)}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Ada.Lovelace@mail.example" in html and "Ada Lovelace" in html
    assert flow.source_link.pk in html and flow.source_link.external_ref not in html
    entry = AuditEntry.objects.get(action="customer.pii_view")
    assert entry.actor == f"user:{ecosystem_admin.pk}"
    assert (entry.object_type, entry.object_id) == ("customer", flow.customer.pk)


def test_each_opening_of_a_customer_is_recorded(ecosystem_admin, client, flow):
    for _ in range(2):
        client.get(f"{CUSTOMERS}{quote(flow.customer.pk)}/change/")

    assert AuditEntry.objects.filter(action="customer.pii_view").count() == 2


def test_an_erased_customer_shows_erased_and_records_no_pii_view(ecosystem_admin, client):
    customer = make_customer(name="Gone Person")
    CustomerKey.objects.filter(customer=customer).delete()
    Customer.objects.filter(pk=customer.pk).update(
        status="erased", email_index=None, email_sealed="", name_sealed="", erased_at=timezone.now()
    )

    response = client.get(f"{CUSTOMERS}{quote(customer.pk)}/change/")

    assert response.status_code == 200
    assert response.content.decode().count('<div class="readonly">erased</div>') == 3
    assert not AuditEntry.objects.filter(action="customer.pii_view").exists()


def test_customers_cannot_be_added_changed_or_deleted_in_admin(ecosystem_admin, client, flow):
    change_url = f"{CUSTOMERS}{quote(flow.customer.pk)}/change/"

    assert client.get(f"{CUSTOMERS}add/").status_code == 403
    assert client.post(change_url, {"status": "erased"}).status_code == 403
    assert client.get(f"{CUSTOMERS}{quote(flow.customer.pk)}/delete/").status_code == 403
    assert Customer.objects.get(pk=flow.customer.pk).status == "active"


def test_consent_list_shows_no_pii_and_no_query_per_row(
    ecosystem_admin, client, flow, django_assert_max_num_queries
):
    consents = [make_consent(flow.customer, flow.source, flow.recipient)]
    for n in range(4):
        customer = make_customer(email=f"other{n}@mail.example", name=f"Other Person{n}")
        consents.append(make_consent(customer, flow.source, flow.recipient))

    with django_assert_max_num_queries(10):
        response = client.get(CONSENTS)

    html = response.content.decode()
    assert response.status_code == 200
    assert all(c.pk in html and c.customer_id in html for c in consents)
    assert "@mail.example" not in html
    assert "Ada Lovelace" not in html and "Other Person" not in html


def test_consents_cannot_be_added_changed_or_deleted_in_admin(ecosystem_admin, client, flow):
    consent = make_consent(flow.customer, flow.source, flow.recipient)
    change_url = f"{CONSENTS}{quote(consent.pk)}/change/"

    assert client.get(change_url).status_code == 200  # view only
    assert client.get(f"{CONSENTS}add/").status_code == 403
    assert client.post(change_url, {"status": "withdrawn"}).status_code == 403
    assert client.get(f"{CONSENTS}{quote(consent.pk)}/delete/").status_code == 403
    assert Consent.objects.get(pk=consent.pk).status == "active"


def test_a_consent_page_shows_its_events(ecosystem_admin, client, flow):
    consent = make_consent(flow.customer, flow.source, flow.recipient)
    ConsentEvent.objects.create(
        consent=consent, from_status="requested", to_status="active", actor="system", method="api"
    )

    response = client.get(f"{CONSENTS}{quote(consent.pk)}/change/")

    assert "requested" in response.content.decode()
    assert "Ada.Lovelace@mail.example" not in response.content.decode()


def _withdraw(client, consents, **data):
    return client.post(
        CONSENTS,
        {"action": WITHDRAW, "_selected_action": [c.pk for c in consents], **data},
        follow=True,
    )


def test_withdrawal_action_first_asks_for_the_written_requests_reference(
    ecosystem_admin, client, flow
):
    consent = make_consent(flow.customer, flow.source, flow.recipient)

    response = _withdraw(client, [consent])

    assert response.status_code == 200
    assert 'name="reference"' in response.content.decode()
    assert Consent.objects.get(pk=consent.pk).status == "active"


def test_withdrawal_without_a_reference_is_refused_and_changes_nothing(
    ecosystem_admin, client, flow
):
    consent = make_consent(flow.customer, flow.source, flow.recipient)

    response = _withdraw(client, [consent], confirm="yes", reference="  ")

    assert "This field is required." in response.content.decode()
    assert Consent.objects.get(pk=consent.pk).status == "active"
    assert not ConsentEvent.objects.filter(consent=consent).exists()


def test_withdrawal_reference_that_would_not_fit_the_reason_is_refused(
    ecosystem_admin, client, flow
):
    consent = make_consent(flow.customer, flow.source, flow.recipient)

    response = _withdraw(client, [consent], confirm="yes", reference="x" * 285)

    assert "Ensure this value has at most 284 characters" in response.content.decode()
    assert Consent.objects.get(pk=consent.pk).status == "active"


def test_withdrawal_with_a_reference_withdraws_through_the_service(ecosystem_admin, client, flow):
    consent = make_consent(flow.customer, flow.source, flow.recipient)

    response = _withdraw(client, [consent], confirm="yes", reference="TICKET-4711")

    assert f"{consent.pk}: withdrawn." in _messages(response)
    assert Consent.objects.get(pk=consent.pk).status == "withdrawn"
    event = ConsentEvent.objects.get(consent=consent)
    assert (event.method, event.actor) == ("written_request", f"user:{ecosystem_admin.pk}")
    assert event.reason == "Written request TICKET-4711"


def test_withdrawal_of_a_consent_that_is_not_active_is_reported_and_changes_nothing(
    ecosystem_admin, client, flow
):
    withdrawn = make_consent(flow.customer, flow.source, flow.recipient, status="withdrawn")
    active = make_consent(flow.customer, flow.source)  # same purpose, another recipient

    response = _withdraw(client, [withdrawn, active], confirm="yes", reference="TICKET-1")

    messages = _messages(response)
    refused = f"{withdrawn.pk}: not withdrawn (invalid_transition)"
    assert any(m.startswith(refused) for m in messages)
    assert f"{active.pk}: withdrawn." in messages
    assert Consent.objects.get(pk=withdrawn.pk).status == "withdrawn"
    assert not ConsentEvent.objects.filter(consent=withdrawn).exists()


@pytest.mark.parametrize("kind", ["partner_staff", "customer"])
# Not named `page`: pytest-playwright owns that fixture name.
@pytest.mark.parametrize("admin_page", ["customer list", "customer", "consent list"])
def test_partner_staff_and_customers_cannot_open_the_pages(db, client, flow, kind, admin_page):
    user = (
        make_staff(make_partner())
        if kind == "partner_staff"
        else User.objects.get(pk=flow.customer.user_id)
    )
    client.force_login(user)
    url = {
        "customer list": CUSTOMERS,
        "customer": f"{CUSTOMERS}{quote(flow.customer.pk)}/change/",
        "consent list": CONSENTS,
    }[admin_page]

    response = client.get(url)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not AuditEntry.objects.filter(action="customer.pii_view").exists()


def test_receipts_and_access_events_are_listed_read_only_by_customer(
    ecosystem_admin, client, flow, django_assert_max_num_queries
):
    from consent.models import AccessEvent, ConsentReceipt
    from consent.services.consents import consent_grant
    from partners.models import Purpose

    consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=["activity.visits"],
    )
    # Another customer with receipts and access events of their own, which the filter hides.
    other = make_customer()
    make_link(other, flow.source)
    make_link(other, flow.recipient)
    consent_grant(
        customer=other,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=["activity.visits"],
    )
    assert AccessEvent.objects.filter(customer=other).exists()

    page = client.get(f"{CUSTOMERS}{quote(flow.customer.pk)}/change/").content.decode()
    assert f"/admin/consent/consentreceipt/?q={flow.customer.pk}" in page
    with django_assert_max_num_queries(9):  # the same for 3 rows as for 1: no query per row
        receipts = client.get("/admin/consent/consentreceipt/", {"q": flow.customer.pk})
    events = client.get("/admin/consent/accessevent/", {"q": flow.customer.pk})

    assert len(receipts.context["cl"].result_list) == 3
    assert {e.customer_id for e in events.context["cl"].result_list} == {flow.customer.pk}
    assert "Ada" not in receipts.content.decode() and "Ada" not in events.content.decode()
    assert other.pk not in events.content.decode()
    row = AccessEvent.objects.filter(customer=flow.customer).first()
    receipt = ConsentReceipt.objects.first()
    for url in (
        f"/admin/consent/accessevent/{quote(row.pk)}/change/",
        f"/admin/consent/consentreceipt/{quote(receipt.pk)}/change/",
    ):
        assert client.post(url, {}).status_code == 403
    assert client.get("/admin/consent/accessevent/add/").status_code == 403
    assert (
        client.post(
            f"/admin/consent/accessevent/{quote(row.pk)}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert AccessEvent.objects.filter(pk=row.pk).exists()


def test_consent_list_names_the_brands_in_its_first_column(ecosystem_admin, client, flow):
    make_consent(flow.customer, flow.source, flow.recipient)

    response = client.get(CONSENTS)

    first = re.search(r'<th class="field-flow">(.*?)</th>', response.content.decode(), re.S)
    assert first and f"{flow.source.name} → {flow.recipient.name}" in first.group(1)
    assert "cns_" not in re.sub(r'href="[^"]*"', "", first.group(1))  # the id is only the link
