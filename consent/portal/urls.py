"""The customer portal at /: server-rendered, works without JavaScript. The exchanges add
their own pages to it (exchanges/referrals/views.py); ecosystem/urls.py puts them together."""

from django.urls import path

from consent.portal import account, signup, views

app_name = "portal"

urlpatterns = [
    # account.py: signing in and out, password reset, answering a link invitation
    path("login/", account.login, name="login"),
    path("logout/", account.logout, name="logout"),
    path("account/password-reset/", account.password_reset, name="password-reset"),
    path("account/password-reset/sent/", account.password_reset_sent, name="password-reset-sent"),
    path(
        "account/reset/<str:uidb64>/<str:token>/",
        account.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path("account/reset/done/", account.password_reset_complete, name="password-reset-complete"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    # signup.py: creating an account (from the connect flow's sign-in step)
    path("account/signup/", signup.signup, name="signup"),
    path("account/signup/sent/", signup.signup_sent, name="signup-sent"),
    path("account/signup/<str:token>/", signup.signup_confirm, name="signup-confirm"),
    # views.py: what the customer sees and decides once signed in
    path("", views.home, name="home"),
    path("links/<str:link_id>/", views.link_answer, name="link-answer"),
    path("requests/<str:consent_id>/", views.consent_request, name="request"),
    path("consents/<str:consent_id>/withdraw/", views.consent_withdraw, name="consent-withdraw"),
    path("consents/<str:consent_id>/renew/", views.consent_renew, name="consent-renew"),
    path("brands/<str:partner_id>/stop/", views.brand_stop, name="brand-stop"),
    path("withdrawn/<str:ref>/", views.withdrawn, name="withdrawn"),
    path("history/", views.history, name="history"),
    path("apps/", views.apps, name="apps"),
    path("apps/<str:client_id>/disconnect/", views.app_disconnect, name="app-disconnect"),
    path("receipts/verify/", views.verify_help, name="verify-help"),
    path("receipts/<str:receipt_id>.jws", views.receipt_download, name="receipt"),
    path("receipts/<str:receipt_id>/", views.receipt_page, name="receipt-page"),
    path("access/", views.access, name="access"),
    path("my-data/", views.my_data, name="my-data"),
    path("my-data/reminders/", views.reminders, name="reminders"),
    path("my-data/export.json", views.export, name="export"),
    path("my-data/summary/", views.export_summary, name="export-summary"),
    path("my-data/delete/", views.delete_account, name="delete"),
    path("goodbye/", views.goodbye, name="goodbye"),
]
