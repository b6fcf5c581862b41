from django.urls import path

from exchanges.rewards.api import views

urlpatterns = [
    path("activities", views.ActivitiesApi.as_view(), name="activities"),
    path("rewards", views.RewardsApi.as_view(), name="rewards"),
    path("rewards/<str:reward_id>", views.RewardDetailApi.as_view(), name="reward"),
    path("statements", views.StatementsApi.as_view(), name="statements"),
    path("statements/<str:statement_id>", views.StatementDetailApi.as_view(), name="statement"),
]
