"""A partner's lifecycle: pending → active | rejected; active ⇄ suspended;
active | suspended → offboarded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from ecosystem.errors import ApplicationError, ConflictError
from ecosystem.models import User
from ecosystem.services.audit import audit_record
from partners import signals
from partners.models import Partner, Partnership, PartnerStaff
from partners.scopes import SCOPES, format_scopes
from partners.services.clients import client_revoke
from partners.services.partnerships import partnership_end

SET_PASSWORD_SALT = "partners.console.set-password"
S = Partner.Status
TRANSITIONS: dict[str, set[str]] = {
    "approve": {S.PENDING},
    "reject": {S.PENDING},
    "suspend": {S.ACTIVE},
    "reinstate": {S.SUSPENDED},
    "offboard": {S.ACTIVE, S.SUSPENDED},
}


class InvalidTransition(ConflictError):
    code = "invalid_transition"
    title = "The partner is not in a state that allows this."


class ScopeCeilingRequired(ApplicationError):
    code = "scope_ceiling_required"
    title = "Choose the API scopes this partner's clients may hold before approving it."


class ReasonRequired(ApplicationError):
    code = "reason_required"
    title = "Give the reason: the partner's contact is told it."


class SlugTaken(ApplicationError):
    code = "slug_taken"
    title = "That slug is already taken."

    def __init__(self) -> None:
        message = "Choose another slug."
        errors = [{"field": "slug", "message": message, "code": self.code}]
        super().__init__(message, extra={"errors": errors})


def _locked(partner: Partner, action: str) -> Partner:
    partner = Partner.objects.select_for_update(no_key=True).get(pk=partner.pk)
    if partner.status not in TRANSITIONS[action]:
        raise InvalidTransition(f"Cannot {action} a partner that is {partner.status}.")
    return partner


def _move(partner: Partner, *, status: str, reason: str, actor: Any, action: str) -> Partner:
    before = partner.status
    partner.status = status
    partner.status_reason = reason[:500]
    partner.save(update_fields=["status", "status_reason", "updated_at"])
    audit_record(
        actor=actor, action=f"partner.{action}", obj=partner, data={"from": before, "to": status}
    )
    return partner


@transaction.atomic
def partner_apply(
    *,
    slug: str,
    name: str,
    sector: str,
    contact_name: str,
    contact_email: str,
    website: str = "",
    description: str = "",
    address: str = "",
    phone: str = "",
    privacy_notice_url: str = "",
) -> Partner | None:
    """Create a pending partner. Nobody can sign in for it until an admin approves it.

    The form and the API are open to anyone, so an application naming a contact email that
    already belongs to a partner is answered as any other (no partner is created, None is
    returned) and the address's owner hears of it by email: the answer must not tell a
    stranger which addresses are partners' contacts."""
    slug = slugify(slug)
    contact_email = contact_email.strip().lower()
    if Partner.objects.filter(slug=slug).exists():
        raise SlugTaken()
    existing = Partner.objects.filter(contact_email=contact_email).first()
    if existing is not None:
        audit_record(actor=None, action="partner.apply_with_taken_email", obj=existing)
        transaction.on_commit(lambda: _send_taken_email_notice(existing))
        return None
    try:
        with transaction.atomic():
            partner = Partner.objects.create(
                slug=slug,
                name=name.strip(),
                sector=sector,
                contact_name=contact_name.strip(),
                contact_email=contact_email,
                website=website,
                description=description,
                address=address.strip(),
                phone=phone.strip(),
                privacy_notice_url=privacy_notice_url,
            )
    except IntegrityError:  # a concurrent application took the slug or email first
        raise SlugTaken() from None
    audit_record(actor=None, action="partner.apply", obj=partner)
    return partner


def _send_taken_email_notice(partner: Partner) -> None:
    # Nothing the applicant typed goes into it: strangers must not be able to write to a
    # partner's contact through us. Sent through the project's mail path as it is today.
    send_mail(
        subject="An application to join the ecosystem named your address",
        message=(
            f"Hello {partner.contact_name},\n\n"
            "Someone applied to join the ecosystem and gave this address as the contact. It "
            f"is already the contact of {partner.name}, so no application was made.\n\n"
            "If it was you, sign in to your partner console instead; a second brand needs "
            "another contact address. If it was not you, there is nothing to do.\n"
        ),
        from_email=None,
        recipient_list=[partner.contact_email],
    )


def set_password_token(user: User) -> str:
    """A signed, expiring token naming the console user and their current password hash, so
    it works once: setting the password changes the hash and voids the link."""
    return signing.dumps({"u": user.pk, "p": user.password[-12:]}, salt=SET_PASSWORD_SALT)


def set_password_user(token: str) -> User | None:
    """The console user a set-password token names, or None if it is expired, tampered or
    already used."""
    try:
        data = signing.loads(
            token, salt=SET_PASSWORD_SALT, max_age=settings.PARTNER_SET_PASSWORD_SECONDS
        )
    except signing.BadSignature:
        return None
    user = User.objects.filter(
        pk=data.get("u"), kind=User.Kind.PARTNER_STAFF, is_active=True
    ).first()
    if user is None or user.password[-12:] != data.get("p"):
        return None
    return user


@transaction.atomic
def console_password_set(*, token: str, password: str) -> User | None:
    """Set the console password named by an emailed link; None if the link is no longer
    valid. Setting it changes the password hash, which voids the link."""
    user = set_password_user(token)
    if user is None:
        return None
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(actor=user, action="partner_staff.set_password", obj=user)
    return user


def _send_console_invitation(partner: Partner, user: User) -> None:
    link = settings.SITE_URL + reverse(
        "partners:console-set-password", kwargs={"token": set_password_token(user)}
    )
    days = settings.PARTNER_SET_PASSWORD_SECONDS // 86_400
    send_mail(
        subject=f"{partner.name} is approved: set your partner console password",
        message=(
            f"Hello {partner.contact_name},\n\n{partner.name} has joined the ecosystem.\n"
            f"Your partner console username is: {user.username}\n"
            f"Set your password within {days} days at:\n{link}\n\n"
            "Then create API clients in the console to call the API.\n"
        ),
        from_email=None,
        recipient_list=[partner.contact_email],
    )


class ProfileIncomplete(ConflictError):
    code = "profile_incomplete"
    title = "The partner's controller details are incomplete."


# What every consent receipt names for a controller (Kantara CR v1.1, ISO/IEC TS 27560).
RECEIPT_PROFILE_FIELDS = ("address", "phone", "privacy_notice_url")


@transaction.atomic
def partner_approve(
    *, partner: Partner, actor: Any, scope_ceiling: Iterable[str] | None = None
) -> Partner:
    """Activate a pending partner, create its console login (no usable password yet) and,
    after commit, email its contact a link to set the password. Refused while the partner
    lacks the controller details its customers' receipts must carry.

    ``scope_ceiling`` (None: keep the one already set) must name at least one scope: with an
    empty ceiling its staff could create no API client at all, so approval is refused."""
    partner = _locked(partner, "approve")
    if scope_ceiling is not None:
        wanted = set(scope_ceiling)
        if unknown := wanted - set(SCOPES):
            raise ApplicationError(
                f"Unknown scopes: {', '.join(sorted(unknown))}.",
                code="invalid_scope",
                extra={"field": "scope_ceiling"},
            )
        partner.scope_ceiling = format_scopes(wanted)
    if not partner.scope_ceiling_set:
        raise ScopeCeilingRequired(extra={"field": "scope_ceiling"})
    missing = [name for name in RECEIPT_PROFILE_FIELDS if not getattr(partner, name).strip()]
    if missing:
        raise ProfileIncomplete(
            f"Approve once the partner has given: {', '.join(missing)}.",
            extra={"missing": missing},
        )
    partner.approved_at = timezone.now()
    partner.save(update_fields=["approved_at", "scope_ceiling"])
    user = User.objects.create_user(f"{partner.slug}-console", None, kind=User.Kind.PARTNER_STAFF)
    PartnerStaff.objects.create(user=user, partner=partner)
    _move(partner, status=S.ACTIVE, reason="", actor=actor, action="approve")
    transaction.on_commit(lambda: _send_console_invitation(partner, user))
    return partner


@transaction.atomic
def partner_reject(*, partner: Partner, actor: Any, reason: str = "") -> Partner:
    return _move(
        _locked(partner, "reject"), status=S.REJECTED, reason=reason, actor=actor, action="reject"
    )


def _send_status_notice(partner: Partner, subject: str, body: str) -> None:
    send_mail(
        subject=subject,
        message=f"Hello {partner.contact_name},\n\n{body}",
        from_email=None,
        recipient_list=[partner.contact_email],
    )


@transaction.atomic
def partner_suspend(*, partner: Partner, actor: Any, reason: str) -> Partner:
    """Refuse the partner's calls from its next request on; its consents and partnerships
    stay, so reinstating restores everything. The reason is required: after commit, the
    partner's contact is emailed it, with what the suspension means."""
    reason = reason.strip()
    if not reason:
        raise ReasonRequired(extra={"field": "reason"})
    partner = _move(
        _locked(partner, "suspend"),
        status=S.SUSPENDED,
        reason=reason,
        actor=actor,
        action="suspend",
    )
    body = (
        f"{partner.name} is suspended from the ecosystem.\nReason: {partner.status_reason}\n\n"
        "Until an ecosystem admin reinstates it:\n"
        "- its API calls and token requests are refused (error code partner_inactive);\n"
        "- no customer data flows to or from it, and its customers are told so;\n"
        "- the partner console is read-only.\n"
        "Its consents, partnerships and API clients are kept: reinstating restores them.\n"
    )
    # Robust: the suspension is committed whatever happens to the email.
    transaction.on_commit(
        lambda: _send_status_notice(partner, f"{partner.name} is suspended", body), robust=True
    )
    return partner


@transaction.atomic
def partner_reinstate(*, partner: Partner, actor: Any) -> Partner:
    partner = _move(
        _locked(partner, "reinstate"), status=S.ACTIVE, reason="", actor=actor, action="reinstate"
    )
    body = (
        f"{partner.name} is active in the ecosystem again: its API clients get tokens, data "
        "flows again under its customers' consents, and the partner console can be changed.\n"
    )
    transaction.on_commit(
        lambda: _send_status_notice(partner, f"{partner.name} is reinstated", body), robust=True
    )
    return partner


@transaction.atomic
def partner_offboard(*, partner: Partner, actor: Any, reason: str = "") -> Partner:
    """End everything that depended on the partner: clients revoked, partnerships ended."""
    partner = _move(
        _locked(partner, "offboard"),
        status=S.OFFBOARDED,
        reason=reason,
        actor=actor,
        action="offboard",
    )
    for client in partner.clients.filter(revoked_at__isnull=True):
        client_revoke(client=client, actor=actor)
    # First, so each customer hears once, for the one reason, before the partnerships end.
    signals.partner_offboarded.send(sender=Partner, partner=partner)
    for partnership in Partnership.objects.involving(partner.pk).exclude(
        status=Partnership.Status.ENDED
    ):
        partnership_end(partnership=partnership, actor=actor)
    return partner
