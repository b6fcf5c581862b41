from django.urls import path

from ecosystem.api.routing import by_method
from exchanges.offers.api import views

urlpatterns = [
    path(
        "offers",
        by_method(get=views.OfferListApi, post=views.OfferCreateApi),
        name="offers",
    ),
    path(
        "offers/<str:offer_id>",
        by_method(get=views.OfferDetailApi, patch=views.OfferUpdateApi),
        name="offer",
    ),
    path("offers/<str:offer_id>/submit", views.OfferSubmitApi.as_view(), name="offer-submit"),
    path("offers/<str:offer_id>/retire", views.OfferRetireApi.as_view(), name="offer-retire"),
    path(
        "offers/<str:offer_id>/redemptions",
        by_method(get=views.OfferRedemptionListApi, post=views.OfferRedemptionCreateApi),
        name="offer-redemptions",
    ),
]
