"""Consent reminders: the periodic digest of what each brand may do, the notice before a
consent expires with its renew page, and the customer's choice to receive neither. Emails
go through the outbox; the beat jobs are safe twice and concurrently."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from consent.models import Consent, ConsentReceipt, Customer
from consent.selectors import reminder_digests_due, reminder_expiry_notices_due
from consent.services.consents import (
    ConsentNotRenewable,
    ConsentTransitionError,
    PartnershipRequired,
    consent_grant,
    consent_renew,
    consent_withdraw,
)
from consent.services.erasure import customer_erase
from consent.services.reminders import (
    consent_digests_send,
    consent_expiry_notices_send,
    customer_reminders_set,
)
from consent.tasks import consent_digests_send_task, consent_expiry_notices_send_task
from ecosystem.celery import app as celery_app
from ecosystem.errors import NotFoundError
from ecosystem.models import AuditEntry, Email
from ecosystem.tasks import email_sweep_task
from partners.models import PartnershipFlow, Purpose
from tests.builders import make_customer, make_link, make_partner, make_partnership
from tests.conftest import seed_taxonomy
from tests.ecosystem.test_email_outbox import broker_down  # noqa: F401 (fixture)

ADA_EMAIL = "Ada.Lovelace@mail.example"
SITE = "http://testserver"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE
    settings.CONSENT_DIGEST_DAYS = 90
    settings.CONSENT_EXPIRY_NOTICE_DAYS = 30


def grant(flow, customer=None, categories=("activity.visits",)) -> Consent:
    return consent_grant(
        customer=customer or flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=list(categories),
    )


def age(customer: Customer, days: int) -> None:
    """The account was opened ``days`` ago."""
    Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timedelta(days=days))


def expiring_in(consent: Consent, days: int) -> Consent:
    """Move the consent's window so that it ends ``days`` from now (within 365 days)."""
    expires = timezone.now() + timedelta(days=days)
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=expires - timedelta(days=365), expires_at=expires
    )
    consent.refresh_from_db()
    return consent


def queued(kind: str) -> list[Email]:
    return list(Email.objects.filter(kind=kind).order_by("created_at", "id"))


# --- the digest -------------------------------------------------------------------------------


def test_a_due_customer_gets_a_digest_of_what_each_brand_may_do_with_portal_links(flow, mailbox):
    consent = grant(flow)
    age(flow.customer, 91)

    assert consent_digests_send() == 1

    [sent] = mailbox
    assert sent.to == [ADA_EMAIL]
    assert sent.subject == "What the brands you use may do with your data"
    body = sent.body
    assert (
        "Pulse Fitness may share your visits with Harbor Mutual so Harbor Mutual can reward you"
        in body
    )
    assert f"until {timezone.localtime(consent.expires_at):%-d %B %Y}" in body
    assert f"{SITE}/consents/{consent.pk}/withdraw/" in body
    assert f"{SITE}/brands/{flow.source.pk}/stop/" in body
    assert f"{SITE}/my-data/#reminders" in body and "turn them off" in body
    [(html, mimetype)] = sent.alternatives
    assert mimetype == "text/html"
    assert f'href="{SITE}/consents/{consent.pk}/withdraw/"' in html
    assert f'href="{SITE}/my-data/#reminders"' in html and "Turn them off" in html
    assert "Ada" not in body and "Lovelace" not in body.replace(ADA_EMAIL, "")
    assert "Ada" not in html
    customer = Customer.objects.get(pk=flow.customer.pk)
    assert customer.digest_sent_at is not None


def test_the_digest_lists_every_active_consent_under_its_brand_and_nothing_ended(flow, mailbox):
    kept = grant(flow)
    link = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="link"),
        source_id=flow.recipient.pk,
        recipient_id=flow.recipient.pk,
        data_categories=[],
    )
    gone = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="link"),
        source_id=flow.source.pk,
        recipient_id=flow.source.pk,
        data_categories=[],
    )
    consent_withdraw(consent=gone, customer=flow.customer)
    age(flow.customer, 91)

    consent_digests_send()

    [sent] = mailbox
    assert sent.body.index("Harbor Mutual\n") < sent.body.index("Pulse Fitness\n")
    assert f"/consents/{kept.pk}/withdraw/" in sent.body
    assert f"/consents/{link.pk}/withdraw/" in sent.body
    assert "Harbor Mutual may know that you use the ecosystem" in sent.body
    assert gone.pk not in sent.body
    assert "Pulse Fitness may know" not in sent.body
    assert "/renew/" not in sent.body  # none ends within CONSENT_EXPIRY_NOTICE_DAYS


def test_the_digest_offers_renewal_for_a_consent_that_ends_soon(flow, mailbox):
    soon = expiring_in(grant(flow), 20)
    age(flow.customer, 91)

    consent_digests_send()

    [sent] = mailbox
    assert f"It ends soon. Renew it: {SITE}/consents/{soon.pk}/renew/" in sent.body
    [(html, _)] = sent.alternatives
    assert f'<a href="{SITE}/consents/{soon.pk}/renew/">renew it</a>' in html


def test_a_digest_is_not_due_again_before_the_configured_days(flow, mailbox, settings):
    grant(flow)
    age(flow.customer, 200)
    assert consent_digests_send() == 1

    assert consent_digests_send() == 0  # the same run twice: nothing more
    later = timezone.now() + timedelta(days=89)
    assert consent_digests_send(now=later) == 0
    assert consent_digests_send(now=timezone.now() + timedelta(days=91)) == 1
    settings.CONSENT_DIGEST_DAYS = 7
    assert consent_digests_send(now=timezone.now() + timedelta(days=99)) == 1
    assert len(queued("consent.digest")) == 3


def test_no_digest_for_a_new_account_nor_for_one_without_active_consents(flow, mailbox):
    grant(flow)  # Ada: account opened today, her first digest waits CONSENT_DIGEST_DAYS
    bob = make_customer(email="bob@mail.example")
    make_link(bob, flow.source)
    consent = grant(flow, customer=bob)
    consent_withdraw(consent=consent, customer=bob)
    age(bob, 400)
    cyd = make_customer(email="cyd@mail.example")
    age(cyd, 400)  # never consented to anything

    assert consent_digests_send() == 0
    assert mailbox == []


def test_an_erased_customer_gets_no_digest(flow, mailbox):
    grant(flow)
    age(flow.customer, 91)
    customer_erase(customer=flow.customer)

    assert consent_digests_send() == 0
    assert not queued("consent.digest")


def test_the_beat_tasks_are_scheduled_and_send(flow, mailbox, settings):
    assert settings.CELERY_BEAT_SCHEDULE["consent-digests"]["task"] == (
        "consent.tasks.consent_digests_send_task"
    )
    assert settings.CELERY_BEAT_SCHEDULE["consent-expiry-notices"]["task"] == (
        "consent.tasks.consent_expiry_notices_send_task"
    )
    expiring_in(grant(flow), 10)
    age(flow.customer, 91)

    assert consent_digests_send_task() == 1
    assert consent_expiry_notices_send_task() == 1
    assert consent_digests_send_task() == 0 and consent_expiry_notices_send_task() == 0
    assert sorted(e.kind for e in Email.objects.all()) == [
        "consent.digest",
        "consent.expiry_notice",
    ]


def test_selecting_due_digests_takes_the_same_queries_for_two_customers_or_eight(
    flow, django_assert_num_queries
):
    def customers(n: int) -> None:
        for _ in range(n):
            customer = make_customer()
            make_link(customer, flow.source)
            grant(flow, customer=customer)
            consent_grant(
                customer=customer,
                purpose=Purpose.objects.get(pk="link"),
                source_id=flow.source.pk,
                recipient_id=flow.source.pk,
                data_categories=[],
            )
            age(customer, 91)

    now = timezone.now()
    customers(2)
    with django_assert_num_queries(2):  # customers with their keys; their consents
        due = list(reminder_digests_due(at=now))
    assert len(due) == 2 and all(len(c.digest_consents) == 2 for c in due)
    customers(6)
    with django_assert_num_queries(2):
        due = list(reminder_digests_due(at=now))
        assert {c.recipient.name for d in due for c in d.digest_consents} == {
            "Pulse Fitness",
            "Harbor Mutual",
        }
        assert {c.key.customer_id for c in due} == {c.pk for c in due}


# --- the expiry notice ------------------------------------------------------------------------


def test_a_consent_about_to_expire_gets_one_notice_with_a_renew_link(flow, mailbox):
    consent = expiring_in(grant(flow), 10)

    assert consent_expiry_notices_send() == 1
    assert consent_expiry_notices_send() == 0
    assert consent_expiry_notices_send(now=timezone.now() + timedelta(days=5)) == 0

    [sent] = mailbox
    until = f"{timezone.localtime(consent.expires_at):%-d %B %Y}"
    assert sent.to == [ADA_EMAIL]
    assert sent.subject == f"Your consent with Pulse Fitness ends on {until}"
    assert f"{SITE}/consents/{consent.pk}/renew/" in sent.body
    assert "Harbor Mutual can reward you" in sent.body
    assert f"{SITE}/my-data/#reminders" in sent.body
    [(html, _)] = sent.alternatives
    assert f'href="{SITE}/consents/{consent.pk}/renew/"' in html
    assert "Ada" not in sent.body and "Ada" not in html
    consent.refresh_from_db()
    assert consent.expiry_notice_sent_at is not None


def test_no_notice_for_a_consent_far_from_expiry_ended_or_already_expired(flow, mailbox):
    expiring_in(grant(flow), 45)
    bob = make_customer(email="bob@mail.example")
    make_link(bob, flow.source)
    withdrawn = expiring_in(grant(flow, customer=bob), 10)
    consent_withdraw(consent=withdrawn, customer=bob)
    cyd = make_customer(email="cyd@mail.example")
    make_link(cyd, flow.source)
    expiring_in(grant(flow, customer=cyd), 10)
    past = timezone.now() + timedelta(days=11)  # cyd's has expired by then

    assert consent_expiry_notices_send(now=past) == 0
    assert consent_expiry_notices_send() == 1  # cyd's, today
    assert [e.data_subject for e in queued("consent.expiry_notice")] == [cyd.pk]


def test_selecting_due_notices_is_one_query_whatever_the_number(flow, django_assert_num_queries):
    for _ in range(2):
        customer = make_customer()
        make_link(customer, flow.source)
        expiring_in(grant(flow, customer=customer), 5)
    with django_assert_num_queries(1):
        assert len(list(reminder_expiry_notices_due(at=timezone.now()))) == 2
    for _ in range(5):
        customer = make_customer()
        make_link(customer, flow.source)
        expiring_in(grant(flow, customer=customer), 5)
    with django_assert_num_queries(1):
        due = list(reminder_expiry_notices_due(at=timezone.now()))
        assert len(due) == 7 and {c.customer.key.customer_id for c in due} == {
            c.customer_id for c in due
        }


# --- turning reminders off --------------------------------------------------------------------


def test_reminders_turned_off_stop_both_the_digest_and_the_notices(flow, mailbox):
    expiring_in(grant(flow), 10)
    age(flow.customer, 91)

    customer_reminders_set(customer=flow.customer, enabled=False)

    assert consent_digests_send() == 0
    assert consent_expiry_notices_send() == 0
    assert mailbox == []
    customer_reminders_set(customer=flow.customer, enabled=True)
    assert consent_digests_send() == 1 and consent_expiry_notices_send() == 1


def test_the_choice_is_recorded_once_with_its_time_and_an_audit_row(flow):
    customer_reminders_set(customer=flow.customer, enabled=False)
    customer_reminders_set(customer=flow.customer, enabled=False)  # already off: nothing new

    customer = Customer.objects.get(pk=flow.customer.pk)
    assert customer.reminders_enabled is False and customer.reminders_changed_at is not None
    [entry] = AuditEntry.objects.filter(action="customer.reminders")
    assert entry.actor == f"customer:{customer.pk}" and entry.data == {"on": False}


def signed_in(customer) -> Client:
    client = Client()
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")
    return client


def test_the_my_data_page_shows_the_choice_and_turns_reminders_off_and_on(flow):
    client = signed_in(flow.customer)
    page = client.get("/my-data/").content.decode()
    assert "Reminders are <strong>on</strong>" in page
    assert 'id="id_reminders" checked' in page

    response = client.post("/my-data/reminders/", {})  # the box unticked

    assert response.status_code == 302 and response["Location"] == "/my-data/"
    assert Customer.objects.get(pk=flow.customer.pk).reminders_enabled is False
    page = client.get("/my-data/").content.decode()
    assert "Reminders are off." in page and "Reminders are <strong>off</strong>" in page
    assert "you chose this on" in page and "checked" not in page
    client.post("/my-data/reminders/", {"reminders": "on"})
    assert Customer.objects.get(pk=flow.customer.pk).reminders_enabled is True


def test_the_reminders_setting_needs_a_signed_in_customer_and_a_post(flow):
    anonymous = Client()
    assert anonymous.post("/my-data/reminders/", {})["Location"].startswith("/login/")
    assert signed_in(flow.customer).get("/my-data/reminders/").status_code == 405
    assert Customer.objects.get(pk=flow.customer.pk).reminders_enabled is True


# --- renewing ---------------------------------------------------------------------------------


def test_renewing_creates_a_new_record_with_a_receipt_and_supersedes_the_old(flow):
    old = expiring_in(grant(flow), 10)

    new = consent_renew(consent=old, customer=flow.customer)

    old.refresh_from_db()
    assert old.status == "superseded" and old.ended_reason == "Renewed by the customer."
    assert new.pk != old.pk and new.status == "active" and new.supersedes_id == old.pk
    assert (new.source_id, new.recipient_id, new.purpose_id) == (
        old.source_id,
        old.recipient_id,
        old.purpose_id,
    )
    assert new.data_categories == old.data_categories
    assert new.partnership_id == flow.partnership.pk
    assert timedelta(days=364) < new.expires_at - timezone.now() <= timedelta(days=365)
    assert new.expiry_notice_sent_at is None
    receipt = ConsentReceipt.objects.filter(consent=new, partner=None).get()
    assert receipt.event.to_status == "active" and receipt.event.actor == (
        f"customer:{flow.customer.pk}"
    )


def test_the_renew_page_says_what_happens_and_renews_on_confirmation(flow):
    old = expiring_in(grant(flow), 10)
    client = signed_in(flow.customer)

    page = client.get(f"/consents/{old.pk}/renew/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "Renew this consent?" in text and "Harbor Mutual can reward you" in text
    assert "new signed receipt" in text
    response = client.post(f"/consents/{old.pk}/renew/")
    assert response.status_code == 302 and response["Location"] == "/"
    [new] = Consent.objects.filter(supersedes=old)
    home = client.get("/").content.decode()
    assert (
        f"Renewed: your consent now runs until {timezone.localtime(new.expires_at):%-d %B %Y}."
        in home
    )


def test_home_offers_renewal_only_inside_the_notice_window(flow):
    soon = expiring_in(grant(flow), 10)
    later = consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="link"),
        source_id=flow.source.pk,
        recipient_id=flow.source.pk,
        data_categories=[],
    )

    home = signed_in(flow.customer).get("/").content.decode()

    assert f'href="/consents/{soon.pk}/renew/"' in home
    assert f'href="/consents/{later.pk}/withdraw/"' in home
    assert f'href="/consents/{later.pk}/renew/"' not in home


def test_renewing_a_withdrawn_consent_is_refused(flow):
    consent = grant(flow)
    consent_withdraw(consent=consent, customer=flow.customer)

    with pytest.raises(ConsentNotRenewable) as refused:
        consent_renew(consent=consent, customer=flow.customer)

    assert refused.value.code == "consent_not_renewable"
    assert "withdrawn" in refused.value.detail
    assert Consent.objects.count() == 1
    client = signed_in(flow.customer)
    response = client.post(f"/consents/{consent.pk}/renew/", follow=True)
    assert "That consent is no longer active, so it cannot be renewed." in response.content.decode()
    assert Consent.objects.count() == 1


def test_renewing_a_consent_past_its_expiry_records_the_expiry_and_refuses(flow):
    consent = grant(flow)
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=timezone.now() - timedelta(days=200), expires_at=timezone.now()
    )

    with pytest.raises(ConsentNotRenewable):
        consent_renew(consent=consent, customer=flow.customer)

    consent.refresh_from_db()
    assert consent.status == "expired" and Consent.objects.count() == 1


def test_renewing_when_the_partnership_no_longer_allows_the_flow_is_refused_on_the_page(flow):
    consent = expiring_in(grant(flow, categories=("activity.visits", "activity.purchases")), 10)
    PartnershipFlow.objects.get(partnership=flow.partnership).data_categories.remove(
        "activity.purchases"
    )  # the flow lost a category (outside the service that would terminate the consent)

    with pytest.raises(PartnershipRequired):
        consent_renew(consent=consent, customer=flow.customer)
    consent.refresh_from_db()
    assert consent.status == "active" and Consent.objects.count() == 1

    response = signed_in(flow.customer).post(f"/consents/{consent.pk}/renew/")

    assert response.status_code == 400
    text = response.content.decode()
    assert 'role="alert"' in text and "no longer have an agreement that allows this" in text
    assert Consent.objects.count() == 1 and Consent.objects.get().status == "active"


def test_another_customers_consent_has_no_renew_page(flow):
    consent = expiring_in(grant(flow), 10)
    bob = make_customer(email="bob@mail.example")
    client = signed_in(bob)

    assert client.get(f"/consents/{consent.pk}/renew/").status_code == 404
    assert client.post(f"/consents/{consent.pk}/renew/").status_code == 404
    assert client.get("/consents/con_doesnotexist/renew/").status_code == 404
    with pytest.raises(NotFoundError):
        consent_renew(consent=consent, customer=bob)
    assert Consent.objects.get().status == "active"


def test_the_renew_page_needs_a_signed_in_customer(flow):
    consent = grant(flow)

    response = Client().get(f"/consents/{consent.pk}/renew/")

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/consents/{consent.pk}/renew/"


# --- the outbox -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_at_commit_the_reminders_are_kept_and_the_sweep_sends(
    broker_down,  # noqa: F811
    settings,
):
    from django.core import mail

    seed_taxonomy()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    source, recipient = make_partner(name="Pulse Fitness"), make_partner(name="Harbor Mutual")
    make_partnership(source, recipient)
    ada = make_customer(email=ADA_EMAIL)
    make_link(ada, source)
    consent = consent_grant(
        customer=ada,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=source.pk,
        recipient_id=recipient.pk,
        data_categories=["activity.visits"],
    )
    expiring_in(consent, 10)
    age(ada, 91)

    assert consent_digests_send() == 1  # commits; the enqueue after the commit fails
    assert consent_expiry_notices_send() == 1

    assert Customer.objects.get(pk=ada.pk).digest_sent_at is not None
    assert sorted(Email.objects.values_list("kind", "status")) == [
        ("consent.digest", "pending"),
        ("consent.expiry_notice", "pending"),
    ]
    assert mail.outbox == []
    broker_down()  # the broker is back; beat runs the sweep, a worker each task
    celery_app.conf.task_always_eager = True
    assert email_sweep_task() == 2
    assert sorted(m.subject.split(" ")[0] for m in mail.outbox) == ["What", "Your"]
    assert set(Email.objects.values_list("status", flat=True)) == {"sent"}
    assert consent_digests_send() == 0 and consent_expiry_notices_send() == 0


# --- races (PostgreSQL) -----------------------------------------------------------------------


def _world() -> tuple[Customer, Consent]:
    seed_taxonomy()
    source, recipient = make_partner(name="Pulse Fitness"), make_partner(name="Harbor Mutual")
    make_partnership(source, recipient)
    ada = make_customer(email=ADA_EMAIL)
    make_link(ada, source)
    consent = consent_grant(
        customer=ada,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=source.pk,
        recipient_id=recipient.pk,
        data_categories=["activity.visits"],
    )
    age(ada, 91)
    return ada, expiring_in(consent, 10)


def _at_once(job, n: int = 2) -> list:
    barrier, results, errors = threading.Barrier(n, timeout=20), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(job())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("job", "kind"),
    [
        (consent_digests_send, "consent.digest"),
        (consent_expiry_notices_send, "consent.expiry_notice"),
    ],
)
def test_two_runs_at_once_send_one_reminder(postgresql, job, kind):
    _world()

    results = _at_once(job)

    assert sorted(results) == [0, 1]
    assert len(queued(kind)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_run_skips_a_customer_another_run_holds_and_a_later_run_sends_it_once(postgresql):
    ada, _consent = _world()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Customer.objects.select_for_update(no_key=True).get(pk=ada.pk)
                held.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(timeout=20)
    try:
        assert consent_digests_send() == 0  # skipped, not waited for
    finally:
        release.set()
        holder.join(timeout=20)
    assert consent_digests_send() == 1
    assert consent_digests_send() == 0
    assert len(queued("consent.digest")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_renewal_and_a_withdrawal_at_once_never_both_take_effect(postgresql):
    ada, consent = _world()  # active, ending in 10 days

    def renew() -> str:
        try:
            consent_renew(consent=Consent.objects.get(pk=consent.pk), customer=ada)
        except ConsentNotRenewable:
            return "renew refused"
        return "renewed"

    def withdraw() -> str:
        try:
            consent_withdraw(consent=Consent.objects.get(pk=consent.pk), customer=ada)
        except ConsentTransitionError:
            return "withdraw refused"
        return "withdrawn"

    jobs = iter((renew, withdraw))
    outcomes = sorted(_at_once(lambda: next(jobs)()))

    consent.refresh_from_db()
    renewals = Consent.objects.filter(supersedes=consent)
    if outcomes == ["renew refused", "withdrawn"]:
        assert consent.status == "withdrawn" and not renewals.exists()
    else:
        assert outcomes == ["renewed", "withdraw refused"]
        assert consent.status == "superseded" and renewals.get().status == "active"
