"""Emails to customers, written to the email outbox in the transaction of the change they
report (ecosystem.services.emails). They carry links and partner names, never the
customer's name, so that a development mail backend printing them shows no PII beyond the
redacted address; the address and body are sealed in the outbox and purged on erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from consent import wording
from consent.models import Consent, Customer, PartnerLink
from ecosystem.services.emails import email_queue


def customer_email_queue(
    *, customer: Customer, kind: str, subject: str, body: str, html: str = ""
) -> int:
    """Queue an email to a customer (filed under them, so erasure purges it); returns how
    many were queued: none for an erased customer, who has nobody left to write to."""
    if customer.status != Customer.Status.ACTIVE:
        return 0
    email_queue(
        kind=kind,
        to=[customer.pii().email],
        subject=subject,
        body=body,
        html=html,
        data_subject=customer.pk,
    )
    return 1


def _portal_url(name: str, *args: str) -> str:
    return f"{settings.SITE_URL}{reverse(f'portal:{name}', args=args)}"


def _reminder_queue(*, customer: Customer, kind: str, subject: str, template: str, **context):
    """A reminder in plain text and simple HTML from one context; each says how to turn
    reminders off (the my-data page)."""
    context |= {
        "subject": subject,
        "portal_url": _portal_url("home"),
        "settings_url": _portal_url("my-data") + "#reminders",
    }
    return customer_email_queue(
        customer=customer,
        kind=kind,
        subject=subject,
        body=render_to_string(f"consent/emails/{template}.txt", context),
        html=render_to_string(f"consent/emails/{template}.html", context),
    )


def consent_digest_queue(
    *, customer: Customer, consents: Sequence[Consent], names: dict[str, str]
) -> int:
    """The periodic digest: per brand, what it may do under the customer's active consents
    (purpose and categories in plain words, until when), with links to the consent's and
    the brand's pages in the portal."""
    brands: dict[str, dict] = {}
    # Those the expiry notice is about (or soon will be) carry its renew link here too.
    renew_from = timezone.now() + timedelta(days=settings.CONSENT_EXPIRY_NOTICE_DAYS)
    for consent in sorted(consents, key=lambda c: (c.source.name, c.expires_at, c.pk)):
        brand = brands.setdefault(
            consent.source_id,
            {
                "name": consent.source.name,
                "stop_url": _portal_url("brand-stop", consent.source_id),
                "consents": [],
            },
        )
        brand["consents"].append(
            {
                "sentence": wording.consent_sentence(consent, names),
                "until": consent.expires_at,
                "url": _portal_url("consent-withdraw", consent.pk),
                "renew_url": _portal_url("consent-renew", consent.pk)
                if consent.expires_at and consent.expires_at <= renew_from
                else "",
            }
        )
    return _reminder_queue(
        customer=customer,
        kind="consent.digest",
        subject="What the brands you use may do with your data",
        template="consent_digest",
        brands=list(brands.values()),
        every=settings.CONSENT_DIGEST_DAYS,
    )


def consent_expiry_notice_queue(*, consent: Consent, names: dict[str, str]) -> int:
    """The notice before a consent expires, with the link to renew it in the portal."""
    return _reminder_queue(
        customer=consent.customer,
        kind="consent.expiry_notice",
        subject=f"Your consent with {consent.source.name} ends on "
        f"{date_format(timezone.localtime(consent.expires_at), 'j F Y')}",
        template="consent_expiry_notice",
        sentence=wording.consent_sentence(consent, names),
        until=consent.expires_at,
        renew_url=_portal_url("consent-renew", consent.pk),
    )


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
