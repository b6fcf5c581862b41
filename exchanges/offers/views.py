"""The customer portal's "Offers for you". The portal belongs to consent, which may not
import the exchanges; so this exchange brings its own pages, and ecosystem/urls.py mounts
them in the portal's namespace (as exchanges/referrals/views.py does)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from consent.portal.views import customer_required
from ecosystem.errors import NotFoundError
from exchanges.offers import selectors, services


@customer_required
def offers(request: HttpRequest) -> HttpResponse:
    """The live offers the customer may see now, why, and what they saved or redeemed."""
    customer = request.customer
    shown = selectors.offers_for_customer(customer_id=customer.pk)
    context = {
        "nav": "offers",
        "offers": shown,
        "saved": [item for item in shown if item.saved],
        "consented": bool(shown) or selectors.customer_has_offer_consent(customer_id=customer.pk),
        "offer_requests": selectors.offer_requests_of(customer_id=customer.pk),
        "redemptions": selectors.redemptions_of_customer(customer_id=customer.pk)[:20],
    }
    return render(request, "portal/offers.html", context)


def _toggle(request: HttpRequest, offer_id: str, save: bool) -> HttpResponse:
    try:
        if save:
            services.offer_save(customer=request.customer, offer_id=offer_id)
        else:
            services.offer_unsave(customer=request.customer, offer_id=offer_id)
    except NotFoundError:
        raise Http404("No such offer for you.") from None
    messages.success(request, "Saved for later." if save else "Removed from your saved offers.")
    return redirect("portal:offers")


@require_POST
@customer_required
def offer_save(request: HttpRequest, offer_id: str) -> HttpResponse:
    return _toggle(request, offer_id, save=True)


@require_POST
@customer_required
def offer_unsave(request: HttpRequest, offer_id: str) -> HttpResponse:
    return _toggle(request, offer_id, save=False)


portal_urlpatterns = [
    path("offers/", offers, name="offers"),
    path("offers/<str:offer_id>/save/", offer_save, name="offer-save"),
    path("offers/<str:offer_id>/unsave/", offer_unsave, name="offer-unsave"),
]
