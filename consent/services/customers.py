"""Customers: creation with a fresh data key, lookup by email, export and erasure."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import (
    EMAIL_INDEX_PURPOSE,
    AccessEvent,
    Consent,
    Customer,
    CustomerKey,
    PartnerLink,
)
from consent.selectors import consents_in_force
from consent.services.access import Access, access_record
from ecosystem import crypto
from ecosystem.errors import ApplicationError
from ecosystem.models import User
from ecosystem.services.audit import actor_label, audit_record


class CustomerError(ApplicationError):
    code = "invalid_customer"
    title = "The customer details are not valid."


def normalise_email(email: str) -> str:
    """What we store and send to: trimmed and NFKC-normalised (case kept for display)."""
    value = crypto.normalise_identifier(email) if email else ""
    if "@" not in value or value.startswith("@") or value.endswith("@") or len(value) > 254:
        raise CustomerError("Enter a valid email address.", code="invalid_email")
    return email.strip()


def customer_find_by_email(email: str) -> Customer | None:
    """The active customer with this email (compared normalised), through the blind index
    under every configured key, so a lookup works during an index key rotation."""
    digests = crypto.blind_indexes(email, purpose=EMAIL_INDEX_PURPOSE)
    return (
        Customer.objects.select_related("key")
        .filter(email_index__in=digests, status=Customer.Status.ACTIVE)
        .first()
    )


@transaction.atomic
def customer_create(*, email: str, name: str = "", phone: str = "", actor: Any) -> Customer:
    """A customer with a new data key and a portal login without a usable password (they set
    one from their first invitation). The username is the opaque customer id."""
    email = normalise_email(email)
    customer = Customer()
    user = User.objects.create_user(customer.id, None, kind=User.Kind.CUSTOMER)
    customer.user = user
    data_key = crypto.data_key_generate()
    customer.seal_pii(name=name.strip(), email=email, phone=phone.strip(), data_key=data_key)
    customer.save(force_insert=True)
    key = CustomerKey(customer=customer)
    key.wrap(data_key)
    key.save(force_insert=True)
    audit_record(actor=actor, action="customer.create", obj=customer)
    return customer


def customer_get_or_create(*, email: str, name: str = "", actor: Any) -> tuple[Customer, bool]:
    """The customer this email belongs to, or a new one. An existing customer's details are
    never changed by whoever supplied the email."""
    existing = customer_find_by_email(email)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return customer_create(email=email, name=name, actor=actor), True
    except IntegrityError:  # a concurrent create took the email index first
        existing = customer_find_by_email(email)
        if existing is None:
            raise
        return existing, False


def customer_pii_view(*, customer: Customer, actor: Any) -> None:
    """Record that someone other than the customer was shown their PII (admins opening a
    customer), in the audit trail and the customer's access log. Call it when the decrypted
    values are about to be shown."""
    audit_record(actor=actor, action="customer.pii_view", obj=customer)
    access_record(
        Access(
            customer_id=customer.pk,
            channel="admin",
            actor=actor_label(actor),
            purpose="administration",
            fields=("contact.name", "contact.email", "contact.phone"),
        )
    )


def customer_seen(*, customer: Customer) -> None:
    """The customer saw their home page now: later changes are pointed out next time."""
    Customer.objects.filter(pk=customer.pk).update(portal_seen_at=timezone.now())


def email_index_rebuild(*, batch_size: int = 500) -> int:
    """Recompute every active customer's email index under the first configured
    BLIND_INDEX_KEY (after prepending a new key; drop the old one once this finished)."""
    updated = 0
    queryset = Customer.objects.filter(status=Customer.Status.ACTIVE).select_related("key")
    last_pk = ""
    while True:
        batch = list(queryset.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            return updated
        changed = []
        for customer in batch:
            index = crypto.blind_index(customer.pii().email, purpose=EMAIL_INDEX_PURPOSE)
            if index != customer.email_index:
                customer.email_index = index
                changed.append(customer)
        Customer.objects.bulk_update(changed, ["email_index"])
        updated += len(changed)
        last_pk = batch[-1].pk


def customer_export(*, customer: Customer) -> dict[str, Any]:
    """Everything the gateway holds about a customer, as JSON-ready data (the portal's
    'download my data'). Names partners by name and each link by its pairwise id."""
    customer = Customer.objects.select_related("key").get(pk=customer.pk)
    pii = customer.pii()
    links = PartnerLink.objects.filter(customer=customer).select_related("partner")
    consents = list(
        Consent.objects.filter(customer=customer)
        .select_related("source", "recipient", "purpose", "partnership")
        .prefetch_related("events", "receipts")
        .order_by("created_at", "id")
    )
    # Through the customer's reverse relation: referrals belong to a layer above this one.
    referrals = customer.referrals.select_related("from_partner", "to_partner").order_by(
        "created_at", "id"
    )
    accesses = (
        AccessEvent.objects.filter(customer=customer).select_related("partner").order_by("seq")
    )
    now = timezone.now()
    in_force = consents_in_force(consents, at=now)
    return {
        "exported_at": now.isoformat(),
        "customer": {
            "id": customer.id,
            "name": pii.name,
            "email": pii.email,
            "phone": pii.phone,
            "created_at": customer.created_at.isoformat(),
        },
        "links": [
            {
                "partner": link.partner.name,
                "customer_id_at_partner": link.id,
                "status": link.status,
                "created_at": link.created_at.isoformat(),
                "confirmed_at": link.confirmed_at.isoformat() if link.confirmed_at else None,
            }
            for link in links
        ],
        "consents": [
            {
                "id": consent.id,
                "purpose": consent.purpose_id,
                "from": consent.source.name,
                "to": consent.recipient.name,
                "data_categories": consent.data_categories,
                "status": consent.effective_status(now),
                # Whether data flows under it right now (a partner suspended, or the
                # partnership out of its window, stops the flow before the status changes).
                "in_force": consent.pk in in_force,
                "granted_at": consent.granted_at.isoformat() if consent.granted_at else None,
                "expires_at": consent.expires_at.isoformat() if consent.expires_at else None,
                "notice_sha256": consent.notice_sha256,
                "events": [
                    {
                        "at": event.at.isoformat(),
                        "from": event.from_status,
                        "to": event.to_status,
                        "method": event.method,
                        "reason": event.reason,
                    }
                    for event in consent.events.all()
                ],
                # The customer's own signed copies (docs/receipts.md says how to verify them).
                "receipts": [
                    receipt.jws for receipt in consent.receipts.all() if receipt.partner_id is None
                ],
            }
            for consent in consents
        ],
        # What the portal's Referrals page shows: every introduction between brands.
        "referrals": [
            {
                "id": referral.id,
                "from": referral.from_partner.name,
                "to": referral.to_partner.name,
                "consent": referral.consent_id,
                "data_categories": referral.snapshot_categories,
                "status": referral.status,
                "reason": referral.reason,
                "created_at": referral.created_at.isoformat(),
                "answered_at": referral.answered_at.isoformat() if referral.answered_at else None,
                "ended_at": referral.ended_at.isoformat() if referral.ended_at else None,
            }
            for referral in referrals
        ],
        # What the portal's access log shows: every time data about the customer left.
        "access_log": [
            {
                "at": access.at.isoformat(),
                "channel": access.channel,
                "partner": access.partner.name if access.partner else None,
                "purpose": access.purpose,
                "consent": access.consent_id,
                "link": access.link_id,
                "data": access.fields,
            }
            for access in accesses
        ],
    }
