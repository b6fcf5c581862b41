"""Creating an account (consent/services/signups.py has the rules): the email form, the
"check your email" page, and the emailed link where the person chooses a password, is signed
in and goes back to where they came from (the connect flow's consent screen)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.contrib.auth import login as auth_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from consent.portal.account import CUSTOMER_BACKEND, NewPasswordForm, is_customer
from consent.services.signups import (
    SIGNUP_LINK_SECONDS,
    customer_signup_complete,
    customer_signup_request,
    signup_link_valid,
)
from ecosystem.crypto import blind_index
from ecosystem.models import User
from ecosystem.ratelimit import client_address, lockout_hit, lockout_wait, wait_text
from ecosystem.refusals import refusal_on_form

SIGNUPS_PER_EMAIL = 3
SIGNUPS_PER_ADDRESS = 10
SIGNUP_PERIOD = 60 * 60
MAX_NEXT_LENGTH = 2000
# Where a new account may be sent back to: the connect flow's authorization endpoint, or a
# page of the portal. Anything else (another site, the admin, the console) is dropped.
RETURN_VIEWS = {"oauth2_provider:authorize"}
RETURN_NAMESPACES = {"portal"}


def return_path(target: str) -> str:
    """``target`` if it is a path on this site the sign-up may return to, else ""."""
    if not target or len(target) > MAX_NEXT_LENGTH or not target.startswith("/"):
        return ""
    if target.startswith("//") or any(ch in target for ch in "\\\r\n\t\x00"):
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return ""
    try:
        match = resolve(parts.path)
    except Resolver404:
        return ""
    if match.view_name in RETURN_VIEWS or match.namespace in RETURN_NAMESPACES:
        return target
    return ""


class SignupForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="We send a link to this address: following it proves it is yours.",
    )


def _signup_wait(request: HttpRequest, email: str) -> float:
    """Counts a sign-up request; seconds to wait when its email or address is locked (0: go).
    The same limits as password reset: each request sends an email to the address typed."""
    digest = blind_index(email, purpose="signup.throttle")
    counters = [
        (f"signup:email:{digest}", SIGNUPS_PER_EMAIL),
        (f"signup:address:{client_address(request.META)}", SIGNUPS_PER_ADDRESS),
    ]
    if wait := max(lockout_wait(key) for key, _limit in counters):
        return wait
    for key, limit in counters:
        lockout_hit(key, limit=limit, period=SIGNUP_PERIOD)
    return 0


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    next_url = return_path(request.POST.get("next") or request.GET.get("next") or "")
    if is_customer(request.user):
        return redirect(next_url or "portal:home")
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if wait := _signup_wait(request, form.cleaned_data["email"]):
            form.add_error(None, f"Too many requests. Try again in {wait_text(wait)}.")
            status = 429
        else:
            customer_signup_request(email=form.cleaned_data["email"], next_url=next_url)
            return redirect("portal:signup-sent")
    if form.errors and status == 200:
        status = 400
    context = {"form": form, "next": next_url}
    return render(request, "portal/account/signup.html", context, status=status)


def signup_sent(request: HttpRequest) -> HttpResponse:
    context = {"minutes": SIGNUP_LINK_SECONDS // 60}
    return render(request, "portal/account/signup_sent.html", context)


@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    if not signup_link_valid(token):
        return _signup_gone(request)
    # The password's rules need a user; the account may not exist yet.
    form = NewPasswordForm(User(kind=User.Kind.CUSTOMER), request.POST or None)
    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form):
            customer, next_url = customer_signup_complete(
                token=token, password=form.cleaned_data["new_password1"]
            )
            auth_login(request, customer.user, backend=CUSTOMER_BACKEND)
            return redirect(return_path(next_url) or "portal:home")
        if form.non_field_errors():  # the only refusal: the link was used a moment ago
            return _signup_gone(request)
    status = 400 if form.errors else 200
    return render(request, "portal/account/signup_confirm.html", {"form": form}, status=status)


def _signup_gone(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/account/signup_gone.html", status=410)
