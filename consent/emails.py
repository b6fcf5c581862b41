"""Emails to customers. They carry links and partner names, never the customer's name, so
that a development mail backend printing them shows no PII beyond the redacted address."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from consent.models import Consent, Customer, PartnerLink
from consent.services.links import invitation_days, invitation_url


def _send(customer: Customer, subject: str, body: str) -> int:
    if customer.status != Customer.Status.ACTIVE:
        return 0  # erased since the email was queued: nobody to write to
    return send_mail(
        subject=subject, message=body, from_email=None, recipient_list=[customer.pii().email]
    )


def link_invitation_send(*, link_id: str) -> int:
    link = (
        PartnerLink.objects.select_related("partner", "customer__key")
        .filter(pk=link_id, status=PartnerLink.Status.PENDING)
        .first()
    )
    if link is None:
        return 0  # answered or gone before the email went out
    days = invitation_days()
    partner = link.partner.name
    body = (
        "Hello,\n\n"
        f"{partner} would like to link your account with them to the Ecosystem Gateway.\n\n"
        f"Linking lets {partner} ask for your consent to share data with other brands. "
        "Nothing is shared until you consent to exactly that, and you can withdraw any "
        "consent at any time.\n\n"
        f"Confirm or refuse within {days} days:\n{invitation_url(link)}\n\n"
        "If you do not know this brand, refuse the link or ignore this email.\n"
    )
    return _send(link.customer, f"{partner} would like to link your account", body)


def consents_terminated_send(*, customer_id: str, consent_ids: list[str]) -> int:
    customer = Customer.objects.select_related("key").filter(pk=customer_id).first()
    consents = list(
        Consent.objects.filter(pk__in=consent_ids, status=Consent.Status.TERMINATED)
        .select_related("source", "recipient", "purpose")
        .order_by("pk")
    )
    if customer is None or not consents:
        return 0
    lines = [
        f"- {c.source.name} sharing with {c.recipient.name} for {c.purpose.name.lower()}: "
        f"{c.ended_reason}"
        if not c.is_single_partner
        else f"- {c.source.name}, {c.purpose.name.lower()}: {c.ended_reason}"
        for c in consents
    ]
    body = (
        "Hello,\n\nThese consents have ended, so no data flows under them any more:\n\n"
        + "\n".join(lines)
        + f"\n\nYou did nothing wrong. Review your consents at {settings.SITE_URL}/\n"
    )
    return _send(customer, "Some of your consents have ended", body)
