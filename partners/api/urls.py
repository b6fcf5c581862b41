from django.urls import path

from partners.api import views

urlpatterns = [
    path("partner", views.PartnerDetailApi.as_view(), name="partner-detail"),
    path("partnerships", views.PartnershipListApi.as_view(), name="partnership-list"),
]
