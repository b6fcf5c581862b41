"""The ecosystem admins' site at /admin/: only they get in, whatever flags a user carries.
Its sign-in form, like the partner console's, counts wrong passwords (ecosystem.ratelimit)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse

from ecosystem.ratelimit import LoginThrottle, client_address, wait_text


class ThrottledLoginForm(AdminAuthenticationForm):
    """Django's admin sign-in behind a LoginThrottle: a growing delay per username, a limit
    per network address. While either holds, even the right password is refused."""

    throttle_scope = "admin"

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if not username or not self.cleaned_data.get("password"):
            return super().clean()
        throttle = LoginThrottle(
            scope=self.throttle_scope,
            account=username,
            address=client_address(self.request.META if self.request else {}),
        )
        if wait := throttle.wait():
            raise forms.ValidationError(
                f"Too many attempts. Try again in {wait_text(wait)}.", code="throttled"
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.failed()
            raise
        throttle.succeeded()
        return cleaned


class ThrottledLoginSite(admin.AdminSite):
    """Answers a throttled sign-in with 429 (the form says when to try again)."""

    login_form = ThrottledLoginForm

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        if form is not None and form.has_error("__all__", code="throttled"):
            response.status_code = 429
        return response


class EcosystemAdminSite(ThrottledLoginSite):
    site_header = "Ecosystem Gateway administration"
    site_title = "Ecosystem Gateway admin"

    def has_permission(self, request: HttpRequest) -> bool:
        # Partner staff and customers are refused even if someone flagged them staff.
        return bool(getattr(request.user, "is_ecosystem_admin", False))
