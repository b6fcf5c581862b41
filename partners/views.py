from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ecosystem.ratelimit import client_address, ratelimit_hit
from ecosystem.refusals import refusal_on_form
from partners.forms import PartnerApplicationForm, SetPasswordForm
from partners.services.partners import console_password_set, partner_apply, set_password_user


@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    form = PartnerApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        window = ratelimit_hit(
            f"apply:{client_address(request.META)}",
            limit=settings.PARTNER_APPLY_RATE_PER_MINUTE,
            period=60,
        )
        if not window.allowed:
            form.add_error(None, f"Too many applications; try again in {window.reset} seconds.")
        else:
            with refusal_on_form(form):
                partner_apply(**form.cleaned_data)
                return redirect("partners:apply-thanks")
    return render(
        request, "partners/apply.html", {"form": form}, status=400 if form.errors else 200
    )


def apply_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "partners/apply_thanks.html")


@require_http_methods(["GET", "POST"])
def console_set_password(request: HttpRequest, token: str) -> HttpResponse:
    user = set_password_user(token)
    if user is None:
        return render(request, "partners/set_password_invalid.html", status=400)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        console_password_set(token=token, password=form.cleaned_data["password1"])
        return redirect("partner_console:login")
    return render(
        request,
        "partners/set_password.html",
        {"form": form, "username": user.username},
        status=400 if form.errors else 200,
    )
