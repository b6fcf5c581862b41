"""Customers: sealed PII, the email index, sign-in and reset through it, crypto-shredding."""

from __future__ import annotations

import base64
import os
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import connection

from consent.auth import CustomerPasswordResetForm
from consent.models import Customer, CustomerErased, CustomerKey
from consent.services.customers import customer_find_by_email
from consent.services.erasure import customer_erase
from ecosystem import crypto
from ecosystem.errors import ApplicationError
from ecosystem.models import Email
from tests.builders import make_customer

EMAIL = "Zoë.Ng@Mail.example"


def raw_row(customer: Customer) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM consent_customer WHERE id = %s", [customer.pk])
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_pii_is_sealed_and_readable_only_through_the_data_key(db):
    customer = make_customer(email=EMAIL, name="Zoë Ng")

    row = raw_row(customer)
    # The whole name: two letters such as "Zo" turn up in base64 ciphertext by chance.
    assert "Zoë Ng" not in str(row) and "mail.example" not in str(row).lower()
    assert row["email_sealed"].startswith("v1.dk.")
    fresh = Customer.objects.select_related("key").get(pk=customer.pk)
    assert (fresh.pii().name, fresh.pii().email) == ("Zoë Ng", EMAIL)
    assert str(fresh) == customer.pk


@pytest.mark.parametrize(
    "typed", [EMAIL, "zoë.ng@mail.example", "  ZOË.NG@MAIL.EXAMPLE ", "Zoe\u0308.Ng@mail.example"]
)
def test_lookup_by_email_is_exact_on_the_normalised_form(db, typed):
    customer = make_customer(email=EMAIL)

    assert customer_find_by_email(typed) == customer


@pytest.mark.parametrize("typed", ["zoe.ng@mail.example", "ng@mail.example", "mail.example"])
def test_lookup_by_email_finds_nothing_for_anything_else(db, typed):
    make_customer(email=EMAIL)

    assert customer_find_by_email(typed) is None


def test_a_second_customer_with_the_same_email_is_refused_by_the_database(db):
    from django.db import IntegrityError, transaction

    make_customer(email=EMAIL)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_customer(email=EMAIL.upper())


def test_an_invalid_email_is_refused(db):
    with pytest.raises(ApplicationError) as caught:
        make_customer(email="no-at-sign")
    assert caught.value.code == "invalid_email"
    assert not Customer.objects.exists()


def test_the_index_rebuilds_under_a_new_key_and_lookups_work_throughout(db, settings):
    customer = make_customer(email=EMAIL)
    old = dict(settings.BLIND_INDEX_KEY)
    new_key = os.urandom(32)
    settings.BLIND_INDEX_KEY = {"bidx2": new_key, **old}
    assert customer_find_by_email(EMAIL) == customer  # still under the old key

    out = StringIO()
    call_command("rebuild_email_index", stdout=out)

    assert "Re-indexed 1 customers" in out.getvalue()
    settings.BLIND_INDEX_KEY = {"bidx2": new_key}
    assert customer_find_by_email(EMAIL) == customer
    assert raw_row(customer)["email_index"] == crypto.blind_index(
        EMAIL, purpose="customer.email", key=new_key
    )


def test_customers_sign_in_with_their_email(db):
    customer = make_customer(email=EMAIL, password="a long portal passphrase")

    assert authenticate(username=" zoë.ng@mail.example", password="a long portal passphrase") == (
        customer.user
    )
    assert authenticate(username=EMAIL, password="wrong") is None
    assert authenticate(username="nobody@mail.example", password="x") is None


def test_password_reset_finds_the_customer_through_the_index(db, mailbox):
    make_customer(email="Zoe.Ng@Mail.example", password="a long portal passphrase")

    form = CustomerPasswordResetForm({"email": " ZOE.NG@mail.example"})
    assert form.is_valid()
    form.save(domain_override="portal.example")

    assert len(mailbox) == 1
    assert mailbox[0].to == ["Zoe.Ng@Mail.example"]
    assert "http://portal.example/account/reset/" in mailbox[0].body


def test_password_reset_for_an_unknown_or_passwordless_customer_sends_no_link(db, mailbox):
    # Each still gets a note, queued the same way as a link: no timing oracle.
    zoe = make_customer(email="zoe@mail.example")  # invited, never set a password

    for email in ("zoe@mail.example", "nobody@mail.example"):
        form = CustomerPasswordResetForm({"email": email})
        assert form.is_valid()
        form.save(domain_override="portal.example")

    assert [m.to for m in mailbox] == [["zoe@mail.example"], ["nobody@mail.example"]]
    assert all("/account/reset/" not in m.body for m in mailbox)
    assert Email.objects.get(data_subject=zoe.pk)  # erasure purges the note to a customer


# --- crypto-shredding -------------------------------------------------------------------------


def test_erasure_leaves_a_copy_of_the_rows_taken_before_unreadable(db):
    customer = make_customer(email=EMAIL, name="Zoë Ng")
    other = make_customer()
    copy = raw_row(customer)  # e.g. a backup of the customer table
    aad = crypto.associated_data("consent_customer", "email", customer.pk)

    customer_erase(customer=customer)

    assert not CustomerKey.objects.filter(customer_id=customer.pk).exists()
    after = raw_row(customer)
    assert (after["email_sealed"], after["name_sealed"], after["email_index"]) == ("", "", None)
    erased = Customer.objects.get(pk=customer.pk)
    with pytest.raises(CustomerErased):
        erased.pii()
    # No key left in the database opens the copy: every other data key is bound to its owner.
    for key in CustomerKey.objects.all():
        with pytest.raises(crypto.DecryptionError):
            crypto.unseal(copy["email_sealed"], data_key=key.unwrap(), aad=aad)
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(copy["email_sealed"], data_key=os.urandom(32), aad=aad)
    assert other.pk in {key.customer_id for key in CustomerKey.objects.all()}
    assert not erased.user.is_active and not erased.user.has_usable_password()
    assert customer_find_by_email(EMAIL) is None


def test_a_customer_cannot_be_erased_twice(db):
    customer = make_customer()
    customer_erase(customer=customer)

    with pytest.raises(ApplicationError) as caught:
        customer_erase(customer=customer)
    assert caught.value.code == "already_erased"


def test_the_data_key_is_wrapped_by_the_configured_keys(db):
    customer = make_customer()

    wrapped = CustomerKey.objects.get(customer=customer).wrapped

    kid = next(iter(__import__("django.conf").conf.settings.FIELD_ENCRYPTION_KEYS))
    assert wrapped.startswith(f"v1.{kid}.")
    assert base64.urlsafe_b64encode(customer.data_key()).decode().rstrip("=") not in wrapped


def test_the_export_holds_everything_about_the_customer_and_nothing_about_others(flow):
    import json

    from consent.services.consents import consent_grant, consent_withdraw
    from consent.services.customers import customer_export
    from partners.models import Purpose

    consent = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=["activity.visits"],
    )
    consent_withdraw(consent=consent, customer=flow.customer)
    make_customer(email="someone.else@mail.example", name="Someone Else")

    export = customer_export(customer=flow.customer)

    text = json.dumps(export)
    assert export["customer"]["email"] == "Ada.Lovelace@mail.example"
    assert export["customer"]["name"] == "Ada Lovelace"
    assert {link["customer_id_at_partner"] for link in export["links"]} == {
        flow.source_link.pk,
        flow.recipient_link.pk,
    }
    (exported,) = export["consents"]
    assert (exported["id"], exported["status"], exported["to"]) == (
        consent.pk,
        "withdrawn",
        "Harbor Mutual",
    )
    assert [(e["from"], e["to"]) for e in exported["events"]] == [
        ("requested", "active"),
        ("active", "withdrawn"),
    ]
    assert "someone" not in text.lower()
    from consent.jws import published_jwks, receipt_verify

    statuses = [
        receipt_verify(r, published_jwks())["consent"]["status"] for r in exported["receipts"]
    ]
    assert statuses == ["active", "withdrawn"]


def test_the_export_holds_the_referrals_and_the_access_log_the_portal_shows(db, taxonomy):
    from consent.models import AccessEvent
    from consent.services.consents import consent_grant
    from consent.services.customers import customer_export
    from exchanges.referrals.services import referral_create, referral_disclosed_to
    from partners.models import Purpose
    from tests.builders import make_link, make_partner, make_partnership

    gym, grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    make_partnership(gym, grocer, purpose="referral", categories=("contact.email",))
    customer = make_customer(email="ada@mail.example")
    link = make_link(customer, gym)
    consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=gym.pk,
        recipient_id=grocer.pk,
        data_categories=["contact.email"],
    )
    referral = referral_create(
        from_partner_id=gym.pk, client_id="cli_x", customer_id=link.pk, to_partner_id=grocer.pk
    )
    referral_disclosed_to(referral=referral, partner_id=grocer.pk, client_id="cli_y")

    export = customer_export(customer=customer)

    (exported,) = export["referrals"]
    assert (exported["id"], exported["from"], exported["to"], exported["status"]) == (
        referral.pk,
        "Pulse Fitness",
        "Fresh Basket",
        "sent",
    )
    assert exported["consent"] == referral.consent_id
    assert exported["data_categories"] == ["contact.email"]
    shown = AccessEvent.objects.filter(customer=customer).order_by("seq")
    assert len(export["access_log"]) == shown.count() > 0
    last = export["access_log"][-1]
    assert (last["partner"], last["purpose"], last["consent"]) == (
        "Fresh Basket",
        "referral",
        referral.consent_id,
    )
    assert "contact.email" in last["data"]
