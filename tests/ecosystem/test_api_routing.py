"""Operations that share a path are routed by method to one view each (ecosystem/api/routing)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLResolver, get_resolver
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.routing import by_method, operations_of
from exchanges.referrals.models import Referral
from partners.webhooks.models import WebhookEndpoint
from tests.builders import api_client_for, make_api

PROBLEM = "application/problem+json"
HOOK = {"url": "http://127.0.0.1:9/in", "event_types": ["referral.received"]}


def test_a_method_no_operation_answers_is_405_naming_the_ones_that_are(db):
    api = make_api()

    response = api.put("/api/v1/referrals", {"customer_id": "x"}, format="json")

    assert response.status_code == 405 and response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, POST, OPTIONS"
    assert not Referral.objects.exists()


def test_an_unanswered_method_without_a_token_is_401_not_405(db):
    response = api_client_for().put("/api/v1/webhook-endpoints/whe_x", {}, format="json")
    assert response.status_code == 401


def test_each_operation_keeps_its_own_scope(db):
    reader = make_api(scopes="referrals:read")

    listed = reader.get("/api/v1/referrals")
    sent = reader.post("/api/v1/referrals", {"customer_id": "x", "to_partner": "p"}, format="json")

    assert listed.status_code == 200
    assert sent.status_code == 403 and sent.json()["code"] == "insufficient_scope"
    assert "referrals:write" in sent.json()["detail"]


def test_a_write_only_token_cannot_list(db):
    writer = make_api(scopes="referrals:write")
    response = writer.get("/api/v1/referrals")
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"


def test_head_is_answered_by_the_get_operation(db):
    response = make_api().head("/api/v1/referrals")
    assert response.status_code == 200 and response.content == b""


def test_every_operation_of_a_detail_path_reaches_its_own_view(db, settings):
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["127.0.0.1:9"]  # nothing is sent here
    api = make_api(scopes="webhooks:manage")
    created = api.post("/api/v1/webhook-endpoints", HOOK, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/v1/webhook-endpoints/{created.json()['id']}"

    shown = api.get(url)
    updated = api.patch(url, {"description": "Ours"}, format="json")
    deleted = api.delete(url)

    assert shown.status_code == 200 and shown.json()["id"] == created.json()["id"]
    assert updated.status_code == 200 and updated.json()["description"] == "Ours"
    assert deleted.status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=created.json()["id"]).exists()


def test_options_names_the_routed_methods(db):
    response = make_api().options("/api/v1/webhook-endpoints")
    assert response.status_code == 200
    assert response["Allow"] == "GET, POST, OPTIONS"


class _Both(APIView):
    def get(self, request):
        return Response()

    def post(self, request):
        return Response()


def test_a_view_answering_more_than_its_routed_method_is_refused_at_import():
    with pytest.raises(ImproperlyConfigured, match="_Both is routed for GET but answers GET, POST"):
        by_method(get=_Both)


def test_a_view_not_answering_its_routed_method_is_refused_at_import():
    with pytest.raises(ImproperlyConfigured, match="routed for DELETE but answers GET, POST"):
        by_method(delete=_Both)


# --- the schema documents the operations, not the route ---------------------------------------

ROUTED = [
    ("/api/v1/referrals", "get", "referrals_list", ["referrals:read"]),
    ("/api/v1/referrals", "post", "referrals_create", ["referrals:write"]),
    ("/api/v1/webhook-endpoints", "get", "webhook_endpoints_list", ["webhooks:manage"]),
    ("/api/v1/webhook-endpoints", "post", "webhook_endpoints_create", ["webhooks:manage"]),
    ("/api/v1/webhook-endpoints/{endpoint_id}", "get", "webhook_endpoints_retrieve", None),
    ("/api/v1/webhook-endpoints/{endpoint_id}", "patch", "webhook_endpoints_update", None),
    ("/api/v1/webhook-endpoints/{endpoint_id}", "delete", "webhook_endpoints_delete", None),
    ("/api/v1/offers", "get", "offers_list", ["offers:read"]),
    ("/api/v1/offers", "post", "offers_create", ["offers:write"]),
    ("/api/v1/offers/{offer_id}", "get", "offers_retrieve", ["offers:read"]),
    ("/api/v1/offers/{offer_id}", "patch", "offers_partial_update", ["offers:write"]),
    ("/api/v1/offers/{offer_id}/redemptions", "get", "offer_redemptions_list", ["offers:read"]),
    (
        "/api/v1/offers/{offer_id}/redemptions",
        "post",
        "offer_redemptions_create",
        ["offers:redeem"],
    ),
]


@pytest.fixture
def schema(db, client):
    return client.get("/api/schema/?format=json").json()


@pytest.mark.parametrize(("path", "method", "operation_id", "scopes"), ROUTED)
def test_each_routed_operation_is_documented_by_its_own_view(
    schema, path, method, operation_id, scopes
):
    operation = schema["paths"][path][method]
    assert operation["operationId"] == operation_id
    assert operation["security"] == [{"oauth2": scopes or ["webhooks:manage"]}]
    if method == "get":  # a read no longer shows the idempotency mixin's docstring
        assert "Claims the key" not in operation.get("description", "")


def _api_callbacks(patterns, prefix=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_callbacks(entry.url_patterns, route)
        elif route.startswith("api/v1/"):
            yield route, entry.callback


def test_every_api_view_answers_exactly_one_operation():
    views = {}
    for route, callback in _api_callbacks(get_resolver().url_patterns):
        for method, view in operations_of(callback).items():
            answered = sorted(
                m
                for m in view.http_method_names
                if m not in {"options", "head"} and hasattr(view, m)
            )
            views[f"{method} {route}"] = (view.__name__, answered)
    assert views, "no API route found"
    several = {op: found for op, found in views.items() if len(found[1]) != 1}
    assert several == {}, "route them with ecosystem.api.routing.by_method, one view each"


def test_the_routed_paths_document_exactly_their_operations(schema):
    assert set(schema["paths"]["/api/v1/referrals"]) == {"get", "post"}
    assert set(schema["paths"]["/api/v1/webhook-endpoints/{endpoint_id}"]) == {
        "get",
        "patch",
        "delete",
    }
