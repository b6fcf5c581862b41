"""``/metrics``: refused unless the caller presents ``METRICS_TOKEN`` as a bearer token or
comes from one of ``METRICS_ALLOWED_NETWORKS``; with neither set it answers 404."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from ecosystem.errors import problem_response
from ecosystem.metrics import exposition

# --- The endpoint --------------------------------------------------------------------------


def _allowed(request: HttpRequest) -> bool:
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = settings.METRICS_TOKEN
    if token and scheme.lower() == "bearer":
        return hmac.compare_digest(presented.strip().encode(), token.encode())
    if settings.METRICS_ALLOWED_NETWORKS:
        try:
            # The direct peer, never X-Forwarded-For: a header anyone can write.
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
    return False


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_NETWORKS:
        return problem_response(
            request,
            status=404,
            code="not_found",
            title="No such resource.",
            detail="Check the path; ids are opaque strings such as par_… or cus_….",
        )
    if not _allowed(request):
        response = problem_response(
            request,
            status=401,
            code="metrics_unauthorized",
            title="Metrics need the scrape token.",
            detail="Send Authorization: Bearer <METRICS_TOKEN>, or scrape from an allowed network.",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
