"""Partner links: a partner invites a customer by email; the customer confirms or refuses in
the portal. Partners only ever learn the pairwise id and the link's status."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from consent.emails import link_invitation_queue
from consent.models import Customer, PartnerLink
from consent.selectors import link_of_partner
from consent.services.access import Access, access_record, access_record_api
from consent.services.customers import customer_get_or_create
from ecosystem.errors import ConflictError, NotFoundError, RateLimitedError
from ecosystem.services.audit import audit_record
from partners.models import Partner
from partners.webhooks.events import event_publish

L = PartnerLink.Status
INVITATION_SALT = "consent.link-invitation"
# What a partner learns from a link response or event beyond its own ids, for the access log.
LINK_FIELDS = ("link.status",)


class CustomerAlreadyLinked(ConflictError):
    """The email names a customer this partner has already linked under another reference.
    The answer carries only the partner's own data: its pairwise id and its reference."""

    code = "customer_already_linked"
    title = "This customer is already linked to you under another external_ref."

    def __init__(self, link: PartnerLink) -> None:
        super().__init__(
            "You linked this customer before, under the external_ref given here; use that "
            "customer_id (or that reference) for them.",
            extra={"customer_id": link.pk, "external_ref": link.external_ref},
        )


class LinkTransitionError(ConflictError):
    code = "invalid_transition"
    title = "The link is not in a state that allows this."


def invitation_days() -> int:
    """How many days an invitation stays valid, as customers are told."""
    return settings.CUSTOMER_INVITATION_SECONDS // 86_400


def invitation_token(link: PartnerLink) -> str:
    return signing.dumps({"l": link.pk}, salt=INVITATION_SALT)


def invitation_url(link: PartnerLink) -> str:
    return f"{settings.SITE_URL}/invitations/{invitation_token(link)}/"


def invitation_link(token: str) -> PartnerLink | None:
    """The pending link an emailed invitation names; None when the token is tampered,
    expired or already answered."""
    try:
        data = signing.loads(
            token, salt=INVITATION_SALT, max_age=settings.CUSTOMER_INVITATION_SECONDS
        )
    except signing.BadSignature:
        return None
    return (
        PartnerLink.objects.select_related("partner", "customer")
        .filter(pk=data.get("l"), status=L.PENDING, customer__status=Customer.Status.ACTIVE)
        .first()
    )


def _check_invitation_cap(partner: Partner) -> None:
    since = timezone.now() - timedelta(days=1)
    sent = PartnerLink.objects.filter(partner=partner, invited_at__gte=since)
    limit = settings.CUSTOMER_INVITATIONS_PER_PARTNER_PER_DAY
    if sent.count() < limit:
        return
    oldest = sent.order_by("invited_at").values_list("invited_at", flat=True).first()
    assert oldest is not None  # the window holds at least `limit` invitations
    retry_after = int((oldest + timedelta(days=1) - timezone.now()).total_seconds()) + 1
    raise RateLimitedError(
        f"You may invite {limit} customers per 24 hours; try again later.",
        code="invitation_limit_reached",
        extra={"retry_after": max(retry_after, 1)},
    )


@transaction.atomic
def customer_link_create(
    *, partner_id: str, client_id: str, external_ref: str, email: str, name: str = ""
) -> tuple[PartnerLink, bool]:
    """A pending link and an invitation email, or the link this partner already has for
    this reference (re-inviting when its invitation expired unanswered); 409
    ``customer_already_linked`` when the email is of a customer linked under another. An
    email that belongs to an existing customer reuses that customer, with the same response
    as a new one: the partner learns nothing new. Invitations are capped per partner per 24
    hours (serialised on the partner row)."""
    partner = Partner.objects.select_for_update(no_key=True).get(pk=partner_id)
    existing = PartnerLink.objects.filter(partner=partner, external_ref=external_ref).first()
    if existing is not None:
        if _invitation_lapsed(existing):  # posting again re-invites, within the same cap
            _check_invitation_cap(partner)
            existing.invited_at = timezone.now()
            existing.save(update_fields=["invited_at"])
            _send_invitation(existing)
        _link_disclosed(existing, client_id)  # its status is the customer's answer
        return existing, False
    _check_invitation_cap(partner)
    actor = f"client:{client_id}"
    customer, _new = customer_get_or_create(email=email, name=name, actor=actor)
    existing = PartnerLink.objects.filter(partner=partner, customer=customer).first()
    if existing is not None:
        # Answering with the old link (and its old reference) would have client code keyed
        # on the reference it sent map that reference to this customer id unawares.
        raise CustomerAlreadyLinked(existing)
    link = PartnerLink.objects.create(
        customer=customer,
        partner=partner,
        external_ref=external_ref,
        invited_at=timezone.now(),
        method=PartnerLink.Method.INVITATION,
    )
    audit_record(actor=actor, action="link.create", obj=link)
    _send_invitation(link)
    return link, True


def customer_link_read(*, partner_id: str, customer_id: str, client_id: str) -> PartnerLink:
    """The partner's link by its pairwise id, its status disclosed (and recorded as such);
    404 for anyone else's id."""
    link = link_of_partner(partner_id=partner_id, customer_id=customer_id)
    if link is None:
        raise NotFoundError("No customer with this id is linked to you.")
    _link_disclosed(link, client_id)
    return link


def _link_disclosed(link: PartnerLink, client_id: str) -> None:
    access_record_api(
        customer_id=link.customer_id,
        client_id=client_id,
        partner_id=link.partner_id,
        purpose="link",
        fields=LINK_FIELDS,
        link_id=link.pk,
    )


def _invitation_lapsed(link: PartnerLink) -> bool:
    if link.status != L.PENDING or link.invited_at is None:
        return False
    age = timezone.now() - link.invited_at
    return age.total_seconds() > settings.CUSTOMER_INVITATION_SECONDS


def _send_invitation(link: PartnerLink) -> None:
    """Queue the invitation in the outbox, in the transaction that invites (re-posting
    after the invitation expires sends another)."""
    link_invitation_queue(link=link, url=invitation_url(link), days=invitation_days())


def _answer(link: PartnerLink, customer: Customer, to: str) -> PartnerLink:
    link = PartnerLink.objects.select_for_update(no_key=True).get(pk=link.pk)
    if link.customer_id != customer.pk:
        raise NotFoundError("No such link.")
    if link.status != L.PENDING:
        raise LinkTransitionError(f"This link is already {link.status}.")
    now = timezone.now()
    link.status = to
    if to == L.ACTIVE:
        link.confirmed_at = now
    else:
        link.ended_at = now
    link.save(update_fields=["status", "confirmed_at", "ended_at"])
    audit_record(actor=f"customer:{customer.pk}", action=f"link.{to}", obj=link)
    published = event_publish(
        type="customer.link_confirmed" if to == L.ACTIVE else "customer.link_refused",
        payloads={
            link.partner_id: {
                "customer_id": link.pk,
                "external_ref": link.external_ref,
                "status": link.status,
            }
        },
    )
    access_record(
        Access(
            customer_id=customer.pk,
            channel="webhook",
            actor=f"event:{published.public_ids[link.partner_id]}",
            partner_id=link.partner_id,
            purpose="link",
            link_id=link.pk,
            fields=LINK_FIELDS,
        )
    )
    return link


@transaction.atomic
def customer_link_confirm(*, link: PartnerLink, customer: Customer) -> PartnerLink:
    return _answer(link, customer, L.ACTIVE)


@transaction.atomic
def invitation_accept(*, link: PartnerLink, password: str | None = None) -> PartnerLink:
    """The invited customer confirms the link from the emailed invitation, choosing their
    portal password at the same time if they have none yet."""
    customer = link.customer
    if password is not None:
        customer.user.set_password(password)
        customer.user.save(update_fields=["password"])
        audit_record(actor=f"customer:{customer.pk}", action="customer.password_set", obj=customer)
    return _answer(link, customer, L.ACTIVE)


@transaction.atomic
def customer_link_refuse(*, link: PartnerLink, customer: Customer) -> PartnerLink:
    return _answer(link, customer, L.REFUSED)


@transaction.atomic
def customer_link_connect(*, customer: Customer, partner: Partner) -> PartnerLink:
    """The customer approved a partner's connect screen: the link is created active (method
    ``connect``), or a pending invitation confirmed. A link the customer refused before is
    confirmed now (they have just said yes); one that ended stays ended."""
    link = (
        PartnerLink.objects.select_for_update(no_key=True)
        .filter(partner=partner, customer=customer)
        .first()
    )
    if link is None:
        link = PartnerLink.objects.create(
            customer=customer, partner=partner, method=PartnerLink.Method.CONNECT
        )
        audit_record(actor=f"customer:{customer.pk}", action="link.connect", obj=link)
    elif link.status == L.ACTIVE:
        return link
    elif link.status == L.ENDED:
        raise LinkTransitionError("This link has ended and cannot be used again.")
    elif link.status == L.REFUSED:  # they refused an invitation before and say yes now
        link.status, link.ended_at = L.PENDING, None
        link.save(update_fields=["status", "ended_at"])
    # Confirmed as an invitation is: the partner hears customer.link_confirmed.
    return _answer(link, customer, L.ACTIVE)
