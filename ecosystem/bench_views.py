"""Views that exist only for the benchmark scripts in bench/ (BENCHMARK_VIEWS=1).

They measure the fixed cost of the stack: an unauthenticated no-op, the same behind partner
authentication, an authenticated one-row write, and the raw-SQL floor of a referral create
(bench/floor.py). Unthrottled, so the throttle does not
cap what is measured; never mounted unless the setting is on.
"""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.floor import BenchReferralFloorApi
from ecosystem.models import AuditEntry


class BenchNoopApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request):
        return Response({"ok": True})


class BenchAuthNoopApi(APIView):
    required_scopes = ["partner:read"]
    throttle_classes = []

    def get(self, request):
        return Response({"ok": True})


class BenchWriteApi(APIView):
    required_scopes = ["partner:read"]
    throttle_classes = []

    def post(self, request):
        entry = AuditEntry.objects.create(
            actor="bench", action="bench.write", object_type="bench", object_id="-"
        )
        return Response({"id": entry.pk}, status=201)


urlpatterns = [
    path("noop", BenchNoopApi.as_view()),
    path("auth-noop", BenchAuthNoopApi.as_view()),
    path("write", BenchWriteApi.as_view()),
    path("referral-floor", BenchReferralFloorApi.as_view()),
]
