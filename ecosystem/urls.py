import sys

from csp import constants as csp
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from consent import views as consent_views
from consent.connect import urls as connect_urls
from consent.connect.views import ConnectDiscoveryView
from consent.portal import urls as portal_urls
from ecosystem import health, metrics_view
from ecosystem.dashboard import views as dashboard
from ecosystem.errors import is_api_request, is_outage, outage_response, problem_response
from exchanges.offers import views as offer_views
from exchanges.referrals import views as referral_views
from exchanges.rewards import views as reward_views
from partners.console import console_site
from partners.oauth import urls as oauth_urls
from partners.oauth.views import authorization_server_metadata

api_v1: list = [
    path("", include("partners.api.urls")),
    path("", include("consent.api.urls")),
    path("", include("exchanges.referrals.api.urls")),
    path("", include("exchanges.rewards.api.urls")),
    path("", include("exchanges.offers.api.urls")),
    path("", include("partners.webhooks.api.urls")),
]

# DOT's endpoints: the connect flow's (consent layer) first, then the directory's.
oauth: list = [
    *connect_urls.urlpatterns,
    *(p for p in oauth_urls.urlpatterns if p.name not in connect_urls.REPLACES),
]

portal: list = [
    *portal_urls.urlpatterns,
    *referral_views.portal_urlpatterns,
    *reward_views.portal_urlpatterns,
    *offer_views.portal_urlpatterns,
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view.metrics_view, name="metrics"),
    # The dashboard is the admins' landing page; the rest of /admin/ is Django's admin.
    path("admin/", admin.site.admin_view(dashboard.admin_dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("o/", include((oauth, "oauth2_provider"))),
    path("", include("partners.urls")),
    # Likewise the partner's overview is the console's landing page.
    path(
        "partner-admin/",
        console_site.admin_view(dashboard.console_overview),
        name="partner-console-overview",
    ),
    path("partner-admin/", console_site.urls),
    path(
        ".well-known/oauth-authorization-server",
        authorization_server_metadata,
        name="oauth-metadata",
    ),
    path(".well-known/jwks.json", consent_views.jwks, name="jwks"),
    path(
        ".well-known/openid-configuration",
        ConnectDiscoveryView.as_view(),
        name="openid-configuration",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves Swagger UI's set-up script as a file (script-src 'self');
        # its page keeps one static inline <style>, allowed on this page alone.
        csp_update({"style-src": [csp.UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    # The customer portal, last: it owns "/". Consent's pages, then each exchange's.
    path("", include((portal, "portal"))),
]

if settings.BENCHMARK_VIEWS:
    urlpatterns.append(path("bench/", include("ecosystem.bench_views")))


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE (or too many fields) is refused by Django before
    # any view runs; the API answers it as problem+json like every other refusal.
    if is_api_request(request):
        too_big = isinstance(exception, RequestDataTooBig | TooManyFieldsSent)
        return problem_response(
            request,
            status=400,
            code="request_too_large" if too_big else "bad_request",
            title="The request is too large." if too_big else "The request is malformed.",
            detail=(
                f"Send at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes in one request."
                if too_big
                else "The request could not be read."
            ),
        )
    return defaults.bad_request(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return problem_response(
            request,
            status=404,
            code="not_found",
            title="No such resource.",
            detail="Check the path; ids are opaque strings such as par_… or cus_….",
        )
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    # Called while the exception is being handled: an outage raised outside a view (in a
    # middleware, e.g. saving the session) still answers 503, not 500.
    exc = sys.exc_info()[1]
    if exc is not None and is_outage(exc):
        return outage_response(request, exc)
    if is_api_request(request):
        return problem_response(
            request,
            status=500,
            code="server_error",
            title="Something went wrong on our side.",
            detail="The error was logged; quote the instance id if you contact support.",
        )
    return defaults.server_error(request)
