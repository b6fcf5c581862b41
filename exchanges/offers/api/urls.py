from django.urls import path

from exchanges.offers.api import views

urlpatterns = [
    path("offers", views.OffersApi.as_view(), name="offers"),
    path("offers/<str:offer_id>", views.OfferDetailApi.as_view(), name="offer"),
    path("offers/<str:offer_id>/submit", views.OfferSubmitApi.as_view(), name="offer-submit"),
    path("offers/<str:offer_id>/retire", views.OfferRetireApi.as_view(), name="offer-retire"),
    path(
        "offers/<str:offer_id>/redemptions",
        views.OfferRedemptionsApi.as_view(),
        name="offer-redemptions",
    ),
]
