from django.urls import path

from partners import views

app_name = "partners"

urlpatterns = [
    path("partners/apply/", views.apply, name="apply"),
    path("partners/apply/thanks/", views.apply_thanks, name="apply-thanks"),
    path(
        "partner-admin/set-password/<str:token>/",
        views.console_set_password,
        name="console-set-password",
    ),
]
