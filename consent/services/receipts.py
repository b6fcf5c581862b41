"""Issuing consent receipts: one signed copy per party for every consent transition."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from consent import jws
from consent.models import Consent, ConsentEvent, ConsentReceipt
from ecosystem.ids import new_id
from partners.models import Partner

# Every flow here rests on the customer's consent (GDPR Art. 6(1)(a) where the jurisdiction
# is the EU); nothing is shared on another basis.
LEGAL_BASIS = "consent"
RETENTION_CRITERIA = (
    "Shared only while the consent is active, at most until expires_at; on withdrawal, "
    "expiry or termination the recipient's copy of referral data is deleted."
)


def _controller(partner: Partner) -> dict[str, object]:
    """A Kantara CR v1.1 ``piiControllers`` entry (its required fields: piiController,
    contact, address, email, phone; piiControllerUrl optional), plus the controller's own
    privacy notice and its gateway id."""
    return {
        "piiController": partner.name,
        "onBehalf": False,
        "contact": partner.contact_name,
        "address": partner.address,
        "email": partner.contact_email,
        "phone": partner.phone,
        "piiControllerUrl": partner.website,
        "policyUrl": partner.privacy_notice_url,
        "id": partner.pk,
    }


def _portal_url(name: str, consent_id: str) -> str:
    return settings.SITE_URL + reverse(name, kwargs={"consent_id": consent_id})


def _review_url(consent: Consent) -> str:
    """Where the customer sees this consent: the request page while it waits for them, the
    consent's entry among their consents after."""
    if consent.status == Consent.Status.REQUESTED:
        return _portal_url("portal:request", consent.pk)
    return f"{settings.SITE_URL}{reverse('portal:home')}#{consent.pk}"


def receipt_claims(
    consent: Consent,
    event: ConsentEvent,
    *,
    receipt_id: str,
    principal_id: str,
) -> dict[str, object]:
    """The Kantara Consent Receipt v1.1 fields, plus the consent's state after this
    transition (``consent``): status, expiry, the notice's hash and the partnership version,
    and where the customer reviews and withdraws it."""
    source, recipient = consent.source, consent.recipient  # loaded with the locked consent
    shared = source.pk != recipient.pk
    controllers = [_controller(source)] + ([_controller(recipient)] if shared else [])
    return {
        "version": jws.KANTARA_VERSION,
        "jurisdiction": settings.RECEIPT_JURISDICTION,
        "consentTimestamp": int(event.at.timestamp()),
        "collectionMethod": event.get_method_display(),
        "consentReceiptID": receipt_id,
        "language": consent.notice_language,
        "piiPrincipalId": principal_id,
        "piiControllers": controllers,
        # The notice of the controller that collects the consent (the source); each
        # controller entry carries its own too.
        "policyUrl": source.privacy_notice_url,
        "services": [
            {
                "service": consent.purpose.name,
                "purposes": [
                    {
                        "purpose": consent.purpose.description,
                        "purposeCategory": [consent.purpose_id],
                        "consentType": "EXPLICIT",
                        "piiCategory": consent.data_categories,
                        "primaryPurpose": True,
                        "termination": "On withdrawal, or at expires_at",
                        "thirdPartyDisclosure": shared,
                        "thirdPartyName": recipient.name if shared else "",
                        # ISO/IEC TS 27560: the lawful basis, and how long data is kept.
                        "legalBasis": LEGAL_BASIS,
                        "retention": {
                            "until": consent.expires_at.isoformat() if consent.expires_at else None,
                            "criteria": RETENTION_CRITERIA,
                        },
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        "iss": settings.SITE_URL,
        "iat": int(event.at.timestamp()),
        "jti": receipt_id,
        "consent": {
            "id": consent.pk,
            "event": event.pk,
            "previous_status": event.from_status or None,
            "status": event.to_status,
            "method": event.method,
            "reason": event.reason,
            "granted_at": consent.granted_at.isoformat() if consent.granted_at else None,
            "expires_at": consent.expires_at.isoformat() if consent.expires_at else None,
            "notice": {
                "id": consent.notice_id,
                "version": consent.notice_version,
                "language": consent.notice_language,
                "sha256": consent.notice_sha256,
            },
            "partnership": consent.partnership_id,
            "partnership_version": consent.partnership_version,
            "review_url": _review_url(consent),
            "withdraw_url": _portal_url("portal:consent-withdraw", consent.pk),
        },
    }


def receipts_issue(
    consent: Consent, event: ConsentEvent, *, pairwise: dict[str, str]
) -> list[ConsentReceipt]:
    """The customer's copy (principal: the opaque customer id) and one copy for each partner
    in ``pairwise`` (partner id → its pairwise id), each naming only its own id."""
    copies = [(None, consent.customer_id), *pairwise.items()]
    rows = []
    for partner_id, principal in copies:
        receipt_id = new_id("rcp")
        claims = receipt_claims(consent, event, receipt_id=receipt_id, principal_id=principal)
        rows.append(
            ConsentReceipt(
                id=receipt_id,
                consent=consent,
                event=event,
                partner_id=partner_id,
                principal_id=principal,
                jws=jws.sign(claims),
                created_at=event.at,
            )
        )
    return ConsentReceipt.objects.bulk_create(rows)
