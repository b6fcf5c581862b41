"""The referrals page of the customer portal. The portal belongs to consent, which may not
import the exchanges; so each exchange brings its own pages, and ecosystem/urls.py mounts
them in the portal's namespace."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from consent import wording
from consent.portal.views import PAGE_SIZE, customer_required
from exchanges.referrals.selectors import referrals_of_customer


def customer_status(referral) -> str:
    """Where an introduction stands, in the customer's words (consent/wording.py)."""
    return wording.referral_status(referral.status, referral.to_partner.name)


@customer_required
def referrals(request: HttpRequest) -> HttpResponse:
    """Every introduction of the customer between brands, and the consent behind it."""
    rows = referrals_of_customer(customer_id=request.customer.pk)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for referral in page:
        referral.customer_status = customer_status(referral)
        referral.consent_words = wording.consent_status(referral.consent.status)
    return render(request, "portal/referrals.html", {"nav": "referrals", "page": page})


portal_urlpatterns = [path("referrals/", referrals, name="referrals")]
