"""After the main flows, no table holds a customer's email, name or phone in plaintext, and
neither do the broker messages or the printed development mail."""

from __future__ import annotations

import re

import pytest
from celery.signals import before_task_publish
from django.db import connection

from consent.auth import CustomerPasswordResetForm
from consent.models import Consent, PartnerLink
from consent.services.consents import consent_request_approve, consent_withdraw
from consent.services.links import customer_link_confirm, invitation_link
from ecosystem.celery import app as celery_app
from tests.builders import make_api, make_partner, make_partnership

EMAIL = "Marguerite.Perey@Radium.example"
NAME = "Marguerite Perey"
NEEDLES = [EMAIL.lower(), "marguerite.perey", "perey@", NAME.lower(), "marguerite"]


def every_cell() -> list[tuple[str, str]]:
    cells = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # table names come from introspection
            for row in cursor.fetchall():
                cells += [(table, str(value)) for value in row if value is not None]
    return cells


def run_published(published: list, start: int = 0) -> int:
    """Run the task messages published since ``start``, as a worker would; returns where the
    next call starts."""
    end = len(published)
    for task_name, body in published[start:end]:
        args, kwargs, _options = body
        celery_app.tasks[task_name].apply(args=args, kwargs=kwargs)
    return end


@pytest.fixture
def published():
    """Every task message sent to the broker during the test: what a broker would store."""
    messages = []

    def record(sender=None, body=None, **kwargs):
        messages.append((sender, body))

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)
    celery_app.control.purge()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_no_plaintext_pii_anywhere_after_the_main_flows(settings, capsys, published):
    settings.EMAIL_BACKEND = "ecosystem.mail.RedactingConsoleBackend"
    gym, insurer = make_partner(), make_partner()
    make_partnership(gym, insurer)
    gym_api = make_api(gym)

    # a partner links the customer (the invitation goes out through a task)
    response = gym_api.post(
        "/api/v1/customer-links",
        {"external_ref": "m-1", "email": EMAIL, "name": NAME},
        format="json",
        HTTP_IDEMPOTENCY_KEY="link-m-1",
    )
    assert response.status_code == 201
    ran = run_published(published)
    printed = capsys.readouterr().out
    token = re.search(r"/invitations/([^/\s]+)/", printed).group(1)

    # the customer confirms, is asked for consent, approves, sets a password, resets it,
    # and withdraws
    link = invitation_link(token)
    customer = link.customer
    customer_link_confirm(link=link, customer=customer)
    consent_id = gym_api.post(
        "/api/v1/consent-requests",
        {
            "customer_id": link.pk,
            "recipient": insurer.pk,
            "purpose": "rewards",
            "data_categories": ["activity.visits"],
            "message": "Rewards for your visits",
        },
        format="json",
    ).json()["id"]
    consent = consent_request_approve(consent=Consent.objects.get(pk=consent_id), customer=customer)
    customer.user.set_password("a long portal passphrase")
    customer.user.save()
    form = CustomerPasswordResetForm({"email": EMAIL})
    assert form.is_valid()
    form.save(domain_override="portal.example")
    consent_withdraw(consent=consent, customer=customer)
    gym_api.get(f"/api/v1/customers/{link.pk}/consents")
    run_published(published, ran)  # the reset email goes out through the outbox too
    printed += capsys.readouterr().out

    assert PartnerLink.objects.get(pk=link.pk).status == "active"
    cells = every_cell()
    assert ("consent_partnerlink", "m-1") in cells  # the scan does read every table
    leaks = [(table, cell) for table, cell in cells for n in NEEDLES if n in cell.lower()]
    assert leaks == []
    assert "account/reset/" in printed and "redacted-" in printed
    assert not any(n in printed.lower() for n in NEEDLES)
    assert published and not any(n in str(body).lower() for _, body in published for n in NEEDLES)
