"""Erasing a customer: crypto-shredding plus the proof of consent the law asks us to keep."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from consent.models import LIVE_STATUSES, Consent, Customer, CustomerKey, PartnerLink
from consent.services.consents import Actor, consent_settle, consent_transition, consents_locked
from ecosystem.errors import ConflictError
from ecosystem.services.audit import audit_record
from partners.webhooks.events import event_publish

S = Consent.Status
ERASED_REASON = "The customer erased their account."


@transaction.atomic
def customer_erase(*, customer: Customer, by: Actor | None = None) -> list[str]:
    """End every consent (partners told as for a withdrawal), tell every partner that knew
    the customer with ``customer.erased``, end the links, and destroy the data key: the
    sealed name, email and phone are then unreadable everywhere, copies included.

    Kept, as proof of consent: consent records and their events (ids, purposes, categories,
    partners, times, notice hashes), pairwise link ids and statuses, and the audit trail —
    none of it personal data once the key is gone. Returns the ids of the partners told.
    """
    # No key column changes (email_index is unique only where set: a partial index is not a
    # key), so inserts that reference the customer are not held up by the lock.
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    if customer.status == Customer.Status.ERASED:
        raise ConflictError("This account is already erased.", code="already_erased")
    by = by or Actor.customer(customer)
    now = timezone.now()
    live = consents_locked().filter(customer=customer, status__in=LIVE_STATUSES)
    for consent in live.order_by("pk"):
        state = consent_settle(consent, now=now)
        if state == S.ACTIVE:
            consent_transition(consent, to=S.WITHDRAWN, by=by, reason=ERASED_REASON, now=now)
        elif state == S.REQUESTED:
            consent_transition(consent, to=S.REFUSED, by=by, reason=ERASED_REASON, now=now)
    links = list(
        PartnerLink.objects.select_for_update(no_key=True).filter(
            customer=customer, status__in=[PartnerLink.Status.PENDING, PartnerLink.Status.ACTIVE]
        )
    )
    if links:
        event_publish(
            type="customer.erased",
            payloads={link.partner_id: {"customer_id": link.pk} for link in links},
        )
        PartnerLink.objects.filter(pk__in=[link.pk for link in links]).update(
            status=PartnerLink.Status.ENDED, ended_at=now
        )
    CustomerKey.objects.filter(customer=customer).delete()
    customer.name_sealed = customer.email_sealed = customer.phone_sealed = ""
    customer.email_index = None
    customer.status, customer.erased_at = Customer.Status.ERASED, now
    customer.save()
    user = customer.user
    user.set_unusable_password()
    user.is_active = False
    user.save(update_fields=["password", "is_active"])
    audit_record(actor=by.label, action="customer.erase", obj=customer)
    return sorted({link.partner_id for link in links})
