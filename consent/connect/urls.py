"""The connect flow's routes under /o/, in DOT's ``oauth2_provider`` namespace (the URLconf
merges them with partners/oauth/urls.py, these first)."""

from django.urls import path
from oauth2_provider.views import JwksInfoView, RPInitiatedLogoutView

from consent.connect.views import (
    ConnectAuthorizationView,
    ConnectIntrospectView,
    ConnectUserInfoView,
)

urlpatterns = [
    path("authorize/", ConnectAuthorizationView.as_view(), name="authorize"),
    path("introspect/", ConnectIntrospectView.as_view(), name="introspect"),
    path("userinfo/", ConnectUserInfoView.as_view(), name="user-info"),
    path("logout/", RPInitiatedLogoutView.as_view(), name="rp-initiated-logout"),
    path("jwks/", JwksInfoView.as_view(), name="jwks-info"),
]
# Routes of partners/oauth/urls.py these take over.
REPLACES = {"introspect"}
