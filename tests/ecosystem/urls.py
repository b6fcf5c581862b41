"""Small views that exercise the shared API plumbing (errors, idempotency) in tests."""

import threading

from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.errors import ConflictError
from ecosystem.models import AuditEntry
from ecosystem.urls import urlpatterns as project_urlpatterns

# A test sets this to hold a request "in flight" until it releases the gate.
gate: dict[str, threading.Event | None] = {"entered": None, "release": None}


class EchoInput(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    count = serializers.IntegerField(min_value=1)


class DomainErrorApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        raise ConflictError("The widget is already frozen.", code="widget_frozen")


class ValidationApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request):
        EchoInput(data=request.data).is_valid(raise_exception=True)
        return Response({})


class ProtectedApi(APIView):
    def get(self, request):
        return Response({"ok": True})


class CreateThingApi(IdempotentMixin, APIView):
    """Writes one audit row per call, so a test can count how often it really acted."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request):
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        if gate["entered"] is not None:
            gate["entered"].set()
            gate["release"].wait(timeout=10)
        entry = AuditEntry.objects.create(
            actor="test",
            action="thing.create",
            object_type="thing",
            object_id=data.validated_data["name"],
        )
        if entry.object_id == "boom":
            raise RuntimeError("a server error after the work")
        return Response({"id": entry.pk, "name": entry.object_id}, status=201)


urlpatterns = [
    path(
        "api/test/",
        include(
            [
                path("domain-error", DomainErrorApi.as_view()),
                path("validation", ValidationApi.as_view()),
                path("protected", ProtectedApi.as_view()),
                path("things", CreateThingApi.as_view()),
            ]
        ),
    ),
    *project_urlpatterns,
]
handler404 = "ecosystem.urls.handler404"
handler500 = "ecosystem.urls.handler500"
