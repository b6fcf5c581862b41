"""Consent reminders (docs/consent.md, Reminders): the periodic digest of what each brand
may do, the notice before a consent expires, and the customer's choice to receive neither.
The beat jobs select who is due in the database and queue each email through the outbox in
the transaction that records it was sent, so an email exists exactly when its record does."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from consent.emails import consent_digest_queue, consent_expiry_notice_queue
from consent.models import Consent, Customer
from consent.selectors import reminder_digests_due, reminder_expiry_notices_due
from consent.services.consents import Actor
from consent.wording import category_names
from ecosystem import transitions
from ecosystem.services.audit import audit_record


def consent_digests_send(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Queue a digest to every customer due one (beat). Each batch of customers is locked,
    skipping those another run holds, and marked sent in the transaction that queues their
    emails: two runs at once send each digest once. Returns how many were queued."""
    now = now or timezone.now()
    names = category_names()

    def send(batch: list[Customer]) -> None:
        for customer in batch:
            consent_digest_queue(
                customer=customer,
                consents=customer.digest_consents,  # type: ignore[attr-defined]
                names=names,
            )
        Customer.objects.filter(pk__in=[c.pk for c in batch]).update(digest_sent_at=now)

    due = reminder_digests_due(at=now)
    return transitions.sweep(due, send, order=("created_at",), batch_size=batch_size)


def consent_expiry_notices_send(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Queue the notice for every consent about to expire whose customer has not been told
    (beat): once per consent, marked in the transaction that queues it, the consent rows
    locked as any transition locks them (docs/consent.md, the lock order). Returns how many."""
    now = now or timezone.now()
    names = category_names()

    def send(batch: list[Consent]) -> None:
        for consent in batch:
            consent_expiry_notice_queue(consent=consent, names=names)
        Consent.objects.filter(pk__in=[c.pk for c in batch]).update(expiry_notice_sent_at=now)

    due = reminder_expiry_notices_due(at=now)
    return transitions.sweep(due, send, order=("expires_at",), batch_size=batch_size)


@transaction.atomic
def customer_reminders_set(*, customer: Customer, enabled: bool) -> Customer:
    """Turn the customer's reminders (digest and expiry notices) on or off; the choice and
    its time are recorded on the customer and in the audit trail. Choosing what is already
    set changes nothing."""
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    if customer.reminders_enabled == enabled:
        return customer
    customer.reminders_enabled, customer.reminders_changed_at = enabled, timezone.now()
    customer.save(update_fields=["reminders_enabled", "reminders_changed_at"])
    actor = Actor.customer(customer).label
    audit_record(actor=actor, action="customer.reminders", obj=customer, data={"on": enabled})
    return customer
