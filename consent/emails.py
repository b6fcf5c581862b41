"""Emails to customers, written to the email outbox in the transaction of the change they
report (ecosystem.services.emails). They carry links and partner names, never the
customer's name, so that a development mail backend printing them shows no PII beyond the
redacted address; the address and body are sealed in the outbox and purged on erasure."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from consent.models import Consent, Customer, PartnerLink
from ecosystem.services.emails import email_queue


def customer_email_queue(*, customer: Customer, kind: str, subject: str, body: str) -> int:
    """Queue an email to a customer (filed under them, so erasure purges it); returns how
    many were queued: none for an erased customer, who has nobody left to write to."""
    if customer.status != Customer.Status.ACTIVE:
        return 0
    email_queue(
        kind=kind, to=[customer.pii().email], subject=subject, body=body, data_subject=customer.pk
    )
    return 1


def link_invitation_queue(*, link: PartnerLink, url: str, days: int) -> int:
    partner = link.partner.name
    body = (
        "Hello,\n\n"
        f"{partner} would like to link your account with them to the Ecosystem Gateway.\n\n"
        f"Linking lets {partner} ask for your consent to share data with other brands. "
        "Nothing is shared until you consent to exactly that, and you can withdraw any "
        "consent at any time.\n\n"
        f"Confirm or refuse within {days} days:\n{url}\n\n"
        "If you do not know this brand, refuse the link or ignore this email.\n"
    )
    return customer_email_queue(
        customer=link.customer,
        kind="link.invitation",
        subject=f"{partner} would like to link your account",
        body=body,
    )


def consents_terminated_queue(*, customer: Customer, consents: Sequence[Consent]) -> int:
    lines = [
        f"- {c.source.name} sharing with {c.recipient.name} for {c.purpose.name.lower()}: "
        f"{c.ended_reason}"
        if not c.is_single_partner
        else f"- {c.source.name}, {c.purpose.name.lower()}: {c.ended_reason}"
        for c in sorted(consents, key=lambda c: c.pk)
    ]
    body = (
        "Hello,\n\nThese consents have ended, so no data flows under them any more:\n\n"
        + "\n".join(lines)
        + f"\n\nYou did nothing wrong. Review your consents at {settings.SITE_URL}/\n"
    )
    return customer_email_queue(
        customer=customer,
        kind="consent.terminated",
        subject="Some of your consents have ended",
        body=body,
    )
