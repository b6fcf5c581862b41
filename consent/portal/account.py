"""Signing in and out, password reset, and answering a partner's link invitation."""

from __future__ import annotations

import math

from django import forms
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import (
    password_validators_help_texts,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.functional import lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from consent.auth import CustomerEmailBackend, CustomerPasswordResetForm
from consent.models import Customer
from consent.services.links import (
    customer_link_refuse,
    invitation_accept,
    invitation_days,
    invitation_link,
)
from ecosystem.crypto import blind_index
from ecosystem.errors import ApplicationError
from ecosystem.models import User
from ecosystem.ratelimit import (
    LoginThrottle,
    client_address,
    lockout_hit,
    lockout_wait,
    wait_text,
)

CUSTOMER_BACKEND = "consent.auth.CustomerEmailBackend"
PASSWORD_RESETS_PER_EMAIL = 3
PASSWORD_RESETS_PER_ADDRESS = 10
PASSWORD_RESET_PERIOD = 60 * 60
INCORRECT = "Email or password is incorrect."


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ResetRequestForm(CustomerPasswordResetForm):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


# Lazy, like Django's own help text: the validators are read when the page is rendered.
_rules = lazy(lambda: " ".join(password_validators_help_texts()), str)


class NewPasswordForm(SetPasswordForm):
    """Django's form, with the validators' rules as plain help text and their refusals shown
    on the password itself rather than on its confirmation, as one message: each error
    partners/_field.html renders carries the same id."""

    new_password1 = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_rules(),
    )
    new_password2 = forms.CharField(
        label="Repeat the new password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        self.validate_passwords("new_password1", "new_password2")
        if password := self.cleaned_data.get("new_password1"):
            try:
                validate_password(password, self.user)
            except ValidationError as refused:
                self.add_error("new_password1", " ".join(refused.messages))
        return self.cleaned_data


def is_customer(user: object) -> bool:
    """A signed-in customer (not an admin or partner staff, not anonymous)."""
    return bool(getattr(user, "is_authenticated", False)) and user.kind == User.Kind.CUSTOMER


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""


def _minutes(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def login_throttle(request: HttpRequest, email: str) -> LoginThrottle:
    """Wrong passwords: a growing delay per email address, a limit per network address (a
    stranger cannot lock a customer out, only slow guesses at their password down)."""
    return LoginThrottle(scope="portal", account=email, address=client_address(request.META))


def _wait(counters: list[tuple[str, int]]) -> float:
    """Seconds until none of these counters is locked (0: now)."""
    return max(lockout_wait(key) for key, _limit in counters)


def _count(counters: list[tuple[str, int]], period: int) -> None:
    for key, limit in counters:
        lockout_hit(key, limit=limit, period=period)


def _authenticate(request: HttpRequest, email: str, password: str) -> User | None:
    # The customer backend alone: ModelBackend would let an admin whose username looks like
    # an email address in, and hash the password a second time on every attempt.
    user = CustomerEmailBackend().authenticate(request, username=email, password=password)
    return user if is_customer(user) else None


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if is_customer(request.user):
        return redirect(next_url or "portal:home")
    form = LoginForm(request.POST or None)
    status, locked = 200, False
    if request.method == "POST" and form.is_valid():
        throttle = login_throttle(request, form.cleaned_data["email"])
        if wait := throttle.wait():
            form.add_error(None, f"Too many attempts. Try again in {wait_text(wait)}.")
            status = 429
            locked = True
        elif user := _authenticate(request, **form.cleaned_data):
            throttle.succeeded()
            auth_login(request, user, backend=CUSTOMER_BACKEND)
            return redirect(next_url or "portal:home")
        else:
            throttle.failed()
            form.add_error(None, INCORRECT)
    if form.errors and status == 200:
        status = 400
    context = {"form": form, "next": next_url, "locked": locked}
    return render(request, "portal/account/login.html", context, status=status)


class ReauthenticateForm(forms.Form):
    """The signed-in customer's password again, before something that cannot be undone.
    Wrong answers count against the same sign-in lock as the sign-in page, so this form is
    no way around it."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="To be sure it is you, enter the password you sign in with.",
    )

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        customer = user.customer  # type: ignore[union-attr]
        throttle = login_throttle(self.request, customer.pii().email)
        if wait := throttle.wait():
            raise forms.ValidationError(
                f"Too many wrong passwords. Try again in {wait_text(wait)}.", code="locked"
            )
        if not user.check_password(password):  # type: ignore[union-attr]
            throttle.failed()
            raise forms.ValidationError("That is not your password.", code="wrong_password")
        return password


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.success(request, "You are signed out.")
    return redirect("portal:login")


def _reset_wait(request: HttpRequest, email: str) -> float:
    """Counts a reset request; seconds to wait when its email or address is locked (0: go)."""
    digest = blind_index(email, purpose="password_reset.throttle")
    counters = [
        (f"password-reset:email:{digest}", PASSWORD_RESETS_PER_EMAIL),
        (f"password-reset:address:{client_address(request.META)}", PASSWORD_RESETS_PER_ADDRESS),
    ]
    if wait := _wait(counters):
        return wait
    _count(counters, PASSWORD_RESET_PERIOD)
    return 0


@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = ResetRequestForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if wait := _reset_wait(request, form.cleaned_data["email"]):
            form.add_error(None, f"Too many requests. Try again in {_minutes(wait)}.")
            status = 429
        else:
            form.save(request=request, use_https=request.is_secure(), from_email=None)
            return redirect("portal:password-reset-sent")
    if form.errors and status == 200:
        status = 400
    return render(request, "portal/account/password_reset.html", {"form": form}, status=status)


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/account/password_reset_sent.html")


@method_decorator(sensitive_post_parameters("new_password1", "new_password2"), name="dispatch")
class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    form_class = NewPasswordForm
    template_name = "portal/account/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")

    def get_user(self, uidb64: str) -> User | None:
        user = super().get_user(uidb64)
        return user if user is not None and user.kind == User.Kind.CUSTOMER else None

    def form_invalid(self, form: NewPasswordForm) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def form_valid(self, form: NewPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        # The emailed link proved who they are: the delay that wrong guesses put on their
        # email must not keep them out with the password they have just chosen. (The lock
        # on the caller's network address stays: it is not theirs alone.)
        email = Customer.objects.get(user=form.user).pii().email
        login_throttle(self.request, email).succeeded()
        return response


password_reset_confirm = PasswordResetConfirm.as_view()


def password_reset_complete(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/account/password_reset_complete.html")


@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    link = invitation_link(token)
    if link is None:
        return _invitation_gone(request)
    customer, user, partner = link.customer, link.customer.user, link.partner
    # Without a password yet (a new customer), confirming also chooses one.
    form = None if user.has_usable_password() else NewPasswordForm(user, request.POST or None)
    answer = request.POST.get("answer")
    try:
        if answer == "refuse":
            customer_link_refuse(link=link, customer=customer)
            return render(request, "portal/account/invitation_refused.html", {"partner": partner})
        if answer == "confirm" and (form is None or form.is_valid()):
            password = form.cleaned_data["new_password1"] if form is not None else None
            invitation_accept(link=link, password=password)
            auth_login(request, user, backend=CUSTOMER_BACKEND)
            messages.success(request, f"You are now linked with {partner.name}.")
            return redirect("portal:home")
    except ApplicationError:  # answered a moment ago, e.g. a double click
        return _invitation_gone(request)
    status = 400 if request.method == "POST" else 200
    context = {"partner": partner, "form": form}
    return render(request, "portal/account/invitation.html", context, status=status)


def _invitation_gone(request: HttpRequest) -> HttpResponse:
    context = {"days": invitation_days()}
    return render(request, "portal/account/invitation_gone.html", context, status=410)
