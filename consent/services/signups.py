"""Creating an account from the portal (the connect flow's "create an account"): the person
proves they own an email address through a one-time link, then chooses a password.

The request answers the same whatever the address: it always queues exactly one email in
the outbox, in this service's transaction. An address without an account, or of a customer
a partner invited who has no password yet, gets the link; an address whose account has a
password gets "you already have an account" with the sign-in and reset links instead.

The link is stateless, like Django's password reset: a token signed with the site's key
(``django.core.signing``, so a changed byte fails), timestamped (it expires after
``SIGNUP_LINK_SECONDS``), carrying the address encrypted (URLs reach access logs: the
address must not be readable in one) and the page to return to. It works once: completing
it gives the account a password, and a link for an account with a password is refused.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.template import loader

from consent.emails import customer_email_queue
from consent.models import Customer
from consent.services.customers import customer_find_by_email, customer_get_or_create
from ecosystem import crypto
from ecosystem.errors import ApplicationError
from ecosystem.models import User
from ecosystem.services.audit import audit_record
from ecosystem.services.emails import email_queue

SIGNUP_SALT = "consent.signup"
SIGNUP_LINK_SECONDS = 60 * 60
_EMAIL_AAD = crypto.associated_data("signup", "email", "link")


class SignupLinkInvalid(ApplicationError):
    """Tampered, expired, or already used (the account has a password now)."""

    status = 410
    code = "signup_link_invalid"
    title = "This link does not work."


def signup_token(*, email: str, next_url: str = "") -> str:
    sealed = crypto.encrypt(email.encode(), aad=_EMAIL_AAD)
    return signing.dumps({"e": sealed, "n": next_url}, salt=SIGNUP_SALT, compress=True)


def _link_contents(token: str) -> tuple[str, str]:
    try:
        data = signing.loads(token, salt=SIGNUP_SALT, max_age=SIGNUP_LINK_SECONDS)
        email = crypto.decrypt(str(data["e"]), aad=_EMAIL_AAD).decode()
    except (signing.BadSignature, crypto.DecryptionError, KeyError, TypeError, ValueError):
        raise SignupLinkInvalid() from None
    return email, str(data.get("n") or "")


def signup_link_valid(token: str) -> bool:
    """Read only: False when the link is tampered, expired or used (its account has a
    password), so the page says so before asking for a password."""
    try:
        email, _next = _link_contents(token)
    except SignupLinkInvalid:
        return False
    customer = customer_find_by_email(email)
    return customer is None or not customer.user.has_usable_password()


def _render(name: str, context: dict[str, str]) -> tuple[str, str]:
    subject = loader.render_to_string(f"consent/emails/{name}_subject.txt", context)
    body = loader.render_to_string(f"consent/emails/{name}.txt", context)
    return "".join(subject.splitlines()), body


@transaction.atomic
def customer_signup_request(*, email: str, next_url: str = "") -> None:
    """Queue the one email a sign-up request sends (see the module's docstring). ``next_url``
    must already be a path the portal may return to; it rides in the link."""
    site = settings.SITE_URL
    customer = customer_find_by_email(email)
    if customer is not None and customer.user.has_usable_password():
        subject, body = _render("signup_existing", {"site": site})
        customer_email_queue(
            customer=customer, kind="customer.signup_existing", subject=subject, body=body
        )
        return
    url = f"{site}/account/signup/{signup_token(email=email, next_url=next_url)}/"
    minutes = str(SIGNUP_LINK_SECONDS // 60)
    subject, body = _render("signup", {"url": url, "minutes": minutes})
    if customer is not None:  # invited by a partner, no password yet: claims that record
        customer_email_queue(customer=customer, kind="customer.signup", subject=subject, body=body)
    else:  # nobody to file it under; the outbox clears the address once it is sent
        email_queue(kind="customer.signup", to=[email], subject=subject, body=body)


@transaction.atomic
def customer_signup_complete(*, token: str, password: str) -> tuple[Customer, str]:
    """The person followed the link and chose ``password`` (already validated): the customer
    with that address is created, or the one a partner created is claimed, and given the
    password. Returns the customer and the path to go back to. ``SignupLinkInvalid`` when the
    link is tampered, expired, or used (its account has a password)."""
    email, next_url = _link_contents(token)
    customer, created = customer_get_or_create(email=email, actor="signup")
    # Locked: two uses of one link at once give the password once, the other is refused.
    user = User.objects.select_for_update().get(pk=customer.user_id)
    if user.has_usable_password() or not user.is_active:
        raise SignupLinkInvalid()
    user.set_password(password)
    user.save(update_fields=["password"])
    customer.user = user  # with its new password: the session is bound to its hash
    audit_record(
        actor=f"customer:{customer.pk}",
        action="customer.signup" if created else "customer.signup_claim",
        obj=customer,
    )
    return customer, next_url
