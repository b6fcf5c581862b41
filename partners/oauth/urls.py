"""DOT's endpoints mounted one by one: not its application registration or device views."""

from django.urls import path

from partners.oauth.views import PartnerIntrospectView, PartnerRevokeTokenView, ThrottledTokenView

app_name = "oauth2_provider"

urlpatterns = [
    path("token/", ThrottledTokenView.as_view(), name="token"),
    path("introspect/", PartnerIntrospectView.as_view(), name="introspect"),
    path("revoke_token/", PartnerRevokeTokenView.as_view(), name="revoke-token"),
]
