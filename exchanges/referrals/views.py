"""The referrals page of the customer portal. The portal belongs to consent, which may not
import the exchanges; so each exchange brings its own pages, and ecosystem/urls.py mounts
them in the portal's namespace."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from consent.portal.views import PAGE_SIZE, customer_required
from exchanges.referrals.selectors import referrals_of_customer

# Where an introduction stands, in the customer's words (the API's status names are the
# partners' vocabulary).
CUSTOMER_STATUS = {
    "sent": "{to} has been told about you and has not answered yet",
    "accepted": "{to} accepted the introduction",
    "declined": "{to} declined the introduction",
    "converted": "You became a customer of {to}",
    "expired": "{to} did not answer in time; the introduction ended",
    "withdrawn": "The introduction was withdrawn; {to} may no longer use what it was sent",
}


def customer_status(referral) -> str:
    text = CUSTOMER_STATUS.get(referral.status)
    return text.format(to=referral.to_partner.name) if text else referral.get_status_display()


@customer_required
def referrals(request: HttpRequest) -> HttpResponse:
    """Every introduction of the customer between brands, and the consent behind it."""
    rows = referrals_of_customer(customer_id=request.customer.pk)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for referral in page:
        referral.customer_status = customer_status(referral)
    return render(request, "portal/referrals.html", {"nav": "referrals", "page": page})


portal_urlpatterns = [path("referrals/", referrals, name="referrals")]
