from django.urls import path

from partners.api import views
from partners.api.registrations import PartnerRegistrationCreateApi

urlpatterns = [
    path(
        "partner-registrations",
        PartnerRegistrationCreateApi.as_view(),
        name="partner-registration-create",
    ),
    path("partner", views.PartnerDetailApi.as_view(), name="partner-detail"),
    path("partnerships", views.PartnershipListApi.as_view(), name="partnership-list"),
]
