"""DOT's endpoints mounted one by one: not its application registration or device views."""

from django.urls import path
from oauth2_provider.views import RevokeTokenView

from partners.oauth.views import PartnerIntrospectView, ThrottledTokenView

app_name = "oauth2_provider"

urlpatterns = [
    path("token/", ThrottledTokenView.as_view(), name="token"),
    path("introspect/", PartnerIntrospectView.as_view(), name="introspect"),
    path("revoke_token/", RevokeTokenView.as_view(), name="revoke-token"),
]
