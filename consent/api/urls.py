from django.urls import path

from consent.api import views

urlpatterns = [
    path("customer-links", views.CustomerLinkCreateApi.as_view(), name="customer-link-create"),
    path(
        "customer-links/<str:customer_id>",
        views.CustomerLinkDetailApi.as_view(),
        name="customer-link-detail",
    ),
    path(
        "customers/<str:customer_id>/consents",
        views.CustomerConsentListApi.as_view(),
        name="customer-consent-list",
    ),
    path(
        "consent-requests", views.ConsentRequestCreateApi.as_view(), name="consent-request-create"
    ),
    path(
        "consent-requests/<str:consent_id>",
        views.ConsentRequestDetailApi.as_view(),
        name="consent-request-detail",
    ),
]
