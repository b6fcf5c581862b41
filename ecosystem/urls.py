import sys

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from consent import views as consent_views
from consent.portal import urls as portal_urls
from ecosystem import health
from ecosystem.dashboard import views as dashboard
from ecosystem.errors import is_api_request, is_outage, outage_response, problem_response
from exchanges.offers import views as offer_views
from exchanges.referrals import views as referral_views
from partners.console import console_site
from partners.oauth.views import authorization_server_metadata

api_v1: list = [
    path("", include("partners.api.urls")),
    path("", include("consent.api.urls")),
    path("", include("exchanges.referrals.api.urls")),
    path("", include("exchanges.rewards.api.urls")),
    path("", include("exchanges.offers.api.urls")),
    path("", include("partners.webhooks.api.urls")),
]

portal: list = [
    *portal_urls.urlpatterns,
    *referral_views.portal_urlpatterns,
    *offer_views.portal_urlpatterns,
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # The dashboard is the admins' landing page; the rest of /admin/ is Django's admin.
    path("admin/", admin.site.admin_view(dashboard.admin_dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("o/", include("partners.oauth.urls")),
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
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    # The customer portal, last: it owns "/". Consent's pages, then each exchange's.
    path("", include((portal, "portal"))),
]

if settings.BENCHMARK_VIEWS:
    urlpatterns.append(path("bench/", include("ecosystem.bench_views")))


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
