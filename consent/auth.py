"""Customer sign-in and password reset, both through the email blind index.

Django's own ``PasswordResetForm`` filters users on a plaintext email column: with none (by
design, see ecosystem.models.User) it would silently find nobody. This form finds the
customer through the index and writes to the decrypted address, through the email outbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.template import loader
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from consent.emails import customer_email_queue
from consent.services.customers import customer_find_by_email
from ecosystem.models import User
from ecosystem.services.emails import email_queue


class CustomerEmailBackend(ModelBackend):
    """Customers sign in with their email address and password."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kw: Any
    ) -> User | None:
        if not username or not password or "@" not in username:
            return None
        customer = customer_find_by_email(username)
        if customer is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        user = customer.user
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


class CustomerPasswordResetForm(PasswordResetForm):
    """Every request queues exactly one email in the outbox, sent by a worker after the
    response: the reset link to a customer's address, a "no account uses this address" note
    to any other. So the request does the same work whether or not the address is known
    (no timing oracle, no SMTP inside the request), and the page says the same either way."""

    subject_template_name = "consent/emails/password_reset_subject.txt"
    email_template_name = "consent/emails/password_reset.txt"
    unknown_template_name = "consent/emails/password_reset_unknown.txt"

    def get_users(self, email: str, customer: Any = None) -> Iterator[User]:  # type: ignore[override]
        customer = customer or customer_find_by_email(email)
        if customer is None:
            return
        user = customer.user
        if user.is_active and user.has_usable_password():
            yield user

    def send_mail(  # type: ignore[override]
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        """Queue the reset email in the outbox (filed under the customer, so erasure purges
        it) rather than sending it inside the request."""
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        customer_email_queue(
            customer=context["user"].customer,
            kind="customer.password_reset",
            subject=subject,
            body=body,
        )

    @transaction.atomic
    def save(  # type: ignore[override]
        self,
        domain_override: str | None = None,
        subject_template_name: str | None = None,
        email_template_name: str | None = None,
        use_https: bool = False,
        token_generator: Any = default_token_generator,
        from_email: str | None = None,
        request: Any = None,
        html_email_template_name: str | None = None,
        extra_email_context: dict[str, Any] | None = None,
    ) -> None:
        """Queue the reset link to the decrypted address, or the note to the address given
        when no customer can reset with it."""
        email = self.cleaned_data["email"]
        domain = domain_override or get_current_site(request).domain
        customer = customer_find_by_email(email)
        users = list(self.get_users(email, customer))
        if not users:
            subject = "".join(loader.render_to_string(self.subject_template_name).splitlines())
            # Filed under the customer when there is one (invited, no password yet), so
            # erasure purges it; the outbox clears the address once the note is sent.
            email_queue(
                kind="customer.password_reset_unknown",
                to=[email],
                subject=subject,
                body=loader.render_to_string(self.unknown_template_name),
                data_subject=customer.pk if customer is not None else "",
            )
        for user in users:
            context = {
                "user": user,
                "domain": domain,
                "uid": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": token_generator.make_token(user),
                "protocol": "https" if use_https else "http",
                **(extra_email_context or {}),
            }
            self.send_mail(
                subject_template_name or self.subject_template_name,
                email_template_name or self.email_template_name,
                context,
                from_email,
                user.customer.pii().email,
                html_email_template_name=html_email_template_name,
            )
