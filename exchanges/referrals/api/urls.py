from django.urls import path

from ecosystem.api.routing import by_method
from exchanges.referrals.api import views

urlpatterns = [
    path(
        "referrals",
        by_method(get=views.ReferralListApi, post=views.ReferralCreateApi),
        name="referrals",
    ),
    path("referrals/<str:referral_id>", views.ReferralDetailApi.as_view(), name="referral"),
    path(
        "referrals/<str:referral_id>/accept",
        views.ReferralAcceptApi.as_view(),
        name="referral-accept",
    ),
    path(
        "referrals/<str:referral_id>/decline",
        views.ReferralDeclineApi.as_view(),
        name="referral-decline",
    ),
    path(
        "referrals/<str:referral_id>/convert",
        views.ReferralConvertApi.as_view(),
        name="referral-convert",
    ),
    path(
        "referrals/<str:referral_id>/withdraw",
        views.ReferralWithdrawApi.as_view(),
        name="referral-withdraw",
    ),
]
