"""The email outbox: every email is a row written in the transaction that decides it, sent
by a task after the commit and re-driven by the sweep; addresses and bodies are sealed,
cleared once sent, never logged, and purged with the customer."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from smtplib import SMTPServerDisconnected

import pytest
from django.contrib.admin.utils import quote
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from consent.auth import CustomerPasswordResetForm
from consent.services.erasure import customer_erase
from consent.services.links import customer_link_create
from ecosystem.celery import app as celery_app
from ecosystem.models import Email
from ecosystem.services.emails import EmailNotSent, email_queue, email_send, emails_dispatch_due
from ecosystem.tasks import email_sweep_task
from partners.services.partners import partner_approve
from tests.builders import make_customer, make_partner
from tests.partners.webhooks.webhooks_support import eager_tasks  # noqa: F401 (fixture)

ADDRESS = "Hedy.Lamarr@Frequency.example"
BODY = "Your secret spread-spectrum link: https://portal.example/x/hop-7"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


class FlakyBackend:
    """A mail server that drops the connection ``FlakyBackend.failures`` more times, then
    delivers to the locmem outbox: the outbound seam, failing as SMTP does."""

    failures = 0

    def __init__(self, *args, **kwargs):
        from django.core.mail.backends.locmem import EmailBackend

        self._delivered = EmailBackend(*args, **kwargs)

    def send_messages(self, messages):
        if FlakyBackend.failures > 0:
            FlakyBackend.failures -= 1
            raise SMTPServerDisconnected(
                f"Connection unexpectedly closed while sending to {ADDRESS}"
            )
        return self._delivered.send_messages(messages)


@pytest.fixture
def outbox(settings):
    settings.EMAIL_BACKEND = LOCMEM
    mail.outbox = []
    return mail.outbox


@pytest.fixture
def broker_down():
    """The broker is unreachable: publishing a task raises, as with a real outage."""
    conf = celery_app.conf
    # The write URL: CELERY_BROKER_URL in the environment would override broker_url. Save the
    # raw setting, not the property: that answers broker_url when it is unset, and restoring
    # that answer would pin every later test's writes to this broker.
    saved = conf["broker_write_url"], conf.task_publish_retry, conf.task_always_eager
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf.broker_write_url, conf.task_publish_retry = f"redis://127.0.0.1:{port}/0", False
    conf.task_always_eager = False
    celery_app._pool, celery_app.amqp._producer_pool = None, None

    def restore() -> None:
        conf["broker_write_url"], conf.task_publish_retry, conf.task_always_eager = saved
        celery_app._pool, celery_app.amqp._producer_pool = None, None

    yield restore
    restore()


def raw_cells() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{Email._meta.db_table}"')
        return [str(value) for row in cursor.fetchall() for value in row if value is not None]


def _queue(**overrides) -> Email:
    fields = {"kind": "test.note", "to": [ADDRESS], "subject": "Hello", "body": BODY}
    return email_queue(**{**fields, **overrides})


def test_queued_email_is_sealed_and_its_content_cleared_once_sent(db, outbox):
    email = _queue(data_subject="cst_hedy")

    cells = raw_cells()
    assert email.pk in cells and "test.note" in cells  # the scan reads the row
    assert not any(ADDRESS.lower() in c.lower() or "hop-7" in c or "Hedy" in c for c in cells)
    assert Email.objects.get(pk=email.pk).status == "pending" and outbox == []

    assert email_send(email_id=email.pk) is True

    [sent] = outbox
    assert sent.to == [ADDRESS] and sent.body == BODY and sent.subject == "Hello"
    email.refresh_from_db()
    assert email.status == "sent" and email.attempts == 1 and email.sent_at
    assert email.content is None and email.next_attempt_at is None
    assert email_send(email_id=email.pk) is False  # sending again sends nothing
    assert len(outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_an_email_queued_in_a_transaction_that_rolls_back_is_never_sent(outbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        _queue()
        raise RuntimeError("the change failed")

    assert not Email.objects.exists()
    assert emails_dispatch_due() == 0 and outbox == []


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_at_commit_approval_succeeds_and_the_sweep_sends_later(
    outbox, broker_down, caplog
):
    partner = make_partner(status="pending", contact_email="ann@harbor.example")

    with caplog.at_level(logging.ERROR):
        partner_approve(partner=partner, actor=None)  # commits; the enqueue fails and is logged

    partner.refresh_from_db()
    assert partner.status == "active"
    [email] = Email.objects.all()
    assert email.kind == "partner.console_invitation" and email.status == "pending"
    assert outbox == []
    assert "in on_commit()" in caplog.text  # the enqueue did fail
    assert "ann@harbor.example" not in caplog.text

    broker_down()  # the broker is back; beat runs the sweep, a worker the task
    celery_app.conf.task_always_eager = True
    assert email_sweep_task() == 1

    [sent] = outbox
    assert sent.to == ["ann@harbor.example"] and "/partner-admin/set-password/" in sent.body
    assert Email.objects.get(pk=email.pk).status == "sent"


@pytest.mark.usefixtures("eager_tasks")
def test_a_crash_between_commit_and_enqueue_loses_no_invitation(
    db, outbox, django_capture_on_commit_callbacks
):
    partner = make_partner()
    with django_capture_on_commit_callbacks(execute=False):  # the process dies at commit
        customer_link_create(
            partner_id=partner.pk, client_id="cli_x", external_ref="h-1", email=ADDRESS
        )
    assert outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        assert emails_dispatch_due() == 1

    [sent] = outbox
    assert sent.to == [ADDRESS] and "/invitations/" in sent.body
    assert Email.objects.get().kind == "link.invitation"


@pytest.mark.usefixtures("eager_tasks")
def test_a_worker_that_died_mid_send_is_taken_back_by_the_sweep(
    db, outbox, django_capture_on_commit_callbacks
):
    email = _queue()
    Email.objects.filter(pk=email.pk).update(  # claimed, then the worker was killed
        status="sending", next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert emails_dispatch_due() == 1

    assert len(outbox) == 1 and Email.objects.get(pk=email.pk).status == "sent"


def test_a_mail_server_failure_is_retried_on_the_backoff_schedule(db, settings, outbox, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    settings.EMAIL_RETRY_SCHEDULE = [0, 100, 1000]
    FlakyBackend.failures = 2
    email = _queue()

    with caplog.at_level(logging.INFO), pytest.raises(EmailNotSent) as first:
        email_send(email_id=email.pk)

    email.refresh_from_db()
    assert email.status == "pending" and email.attempts == 1
    assert email.last_error == "SMTPServerDisconnected" and email.content is not None
    assert timedelta(seconds=80) <= first.value.retry_in <= timedelta(seconds=120)
    assert email.next_attempt_at - email.last_attempt_at == first.value.retry_in
    assert email_send(email_id=email.pk) is False  # not due yet: a retry waits its turn
    assert emails_dispatch_due() == 0

    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())  # time passes
    with pytest.raises(EmailNotSent) as second:
        email_send(email_id=email.pk)
    assert timedelta(seconds=800) <= second.value.retry_in <= timedelta(seconds=1200)

    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert email_send(email_id=email.pk) is True

    email.refresh_from_db()
    assert email.status == "sent" and email.attempts == 3 and email.content is None
    assert [m.to for m in outbox] == [[ADDRESS]]
    assert ADDRESS.lower() not in caplog.text.lower() and "hop-7" not in caplog.text


def test_an_email_the_mail_server_keeps_refusing_is_given_up_and_cleared(db, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    settings.EMAIL_RETRY_SCHEDULE = [0, 1]
    FlakyBackend.failures = 5
    email = _queue()

    with pytest.raises(EmailNotSent):
        email_send(email_id=email.pk)
    Email.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert email_send(email_id=email.pk) is False  # the last attempt: no retry is asked for

    email.refresh_from_db()
    assert email.status == "failed" and email.attempts == 2
    assert email.content is None and email.next_attempt_at is None
    FlakyBackend.failures = 0


def test_an_email_needs_a_recipient(db):
    with pytest.raises(ValueError, match="recipient"):
        _queue(to=[""])
    assert not Email.objects.exists()


def test_erasure_purges_the_customers_queued_mail_and_only_theirs(db, outbox):
    customer = make_customer(email=ADDRESS, password="a long portal passphrase")
    other = make_customer(email="grace@mail.example", password="a long portal passphrase")
    for email in (ADDRESS, "grace@mail.example"):
        form = CustomerPasswordResetForm({"email": email})
        assert form.is_valid()
        form.save(domain_override="portal.example")
    staff_mail = _queue(to=["ops@brand.example"])
    assert set(Email.objects.values_list("data_subject", flat=True)) == {
        customer.pk,
        other.pk,
        "",
    }

    customer_erase(customer=customer)

    assert not Email.objects.filter(data_subject=customer.pk).exists()
    assert Email.objects.filter(data_subject=other.pk).exists()
    assert Email.objects.filter(pk=staff_mail.pk).exists()
    for email_id in Email.objects.values_list("pk", flat=True):
        email_send(email_id=email_id)
    assert sorted(m.to[0] for m in outbox) == ["grace@mail.example", "ops@brand.example"]


def test_the_admin_lists_the_outbox_without_addresses_or_bodies(ecosystem_admin, client):
    email = _queue(kind="link.invitation", data_subject="cst_hedy")

    listing = client.get("/admin/ecosystem/email/")
    detail = client.get(f"/admin/ecosystem/email/{quote(email.pk)}/change/")

    for page in (listing, detail):
        assert page.status_code == 200
        text = page.content.decode()
        assert email.pk in text and "link.invitation" in text and "pending" in text.lower()
        assert ADDRESS.lower() not in text.lower() and "hop-7" not in text
        assert "cst_hedy" not in text and "v1." not in text  # nor whom, nor the ciphertext
    assert client.get("/admin/ecosystem/email/add/").status_code == 403
    assert client.post(f"/admin/ecosystem/email/{quote(email.pk)}/delete/").status_code == 403
