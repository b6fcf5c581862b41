"""The OpenAPI schema is the contract: every operation documents its refusals with the one
shared problem schema, its headers, and a description written for partners; every route of
the URLconf is in the schema or on the list of non-API routes (OWASP API9, inventory)."""

from __future__ import annotations

import base64
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from django.urls import URLPattern, URLResolver, get_resolver, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.api.schema import PROBLEM
from ecosystem.errors import PROBLEM_CONTENT_TYPE

METHODS = {"get", "post", "put", "patch", "delete"}
PROBLEM_REF = f"#/components/schemas/{PROBLEM}"
# Docstrings of the classes views are built from: never a partner-facing description.
INTERNAL_DOCS = {
    inspect.getdoc(cls) for cls in (IdempotentMixin, APIView) if inspect.getdoc(cls) is not None
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for route, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {route}", operation


def _is_problem(body_schema) -> bool:
    return body_schema == {"$ref": PROBLEM_REF} or (
        body_schema.get("allOf", [None])[0] == {"$ref": PROBLEM_REF}
    )


def test_the_schema_has_all_operations(schema):
    assert len(list(_operations(schema))) >= 28


def test_every_operation_has_a_description_written_for_partners(schema):
    missing = [
        name
        for name, operation in _operations(schema)
        if not operation.get("description") or operation["description"] in INTERNAL_DOCS
    ]
    assert missing == []


def test_every_error_answer_is_the_shared_problem_document(schema):
    wrong = [
        f"{name} {status}"
        for name, operation in _operations(schema)
        for status, response in operation["responses"].items()
        if int(status) >= 400
        and (
            set(response.get("content", {})) != {PROBLEM_CONTENT_TYPE}
            or not _is_problem(response["content"][PROBLEM_CONTENT_TYPE]["schema"])
            or not response.get("description")
        )
    ]
    assert wrong == []


def test_every_answer_names_its_request_id_and_limits_and_waits(schema):
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert headers["Request-Id"]["required"] is True, (name, status)
            if status in {"429", "503"}:
                assert headers["Retry-After"]["required"] is True, (name, status)
            if status == "429" or name != "POST /api/v1/partner-registrations":
                assert "RateLimit-Remaining" in headers, (name, status)


def test_statuses_follow_from_what_each_view_declares(schema):
    for name, operation in _operations(schema):
        statuses = set(operation["responses"])
        assert {"429", "503"} <= statuses, name
        if "{" in name:
            assert "404" in statuses, name
        if "requestBody" in operation:
            assert {"400", "415"} <= statuses, name
        if name != "POST /api/v1/partner-registrations":
            assert {"401", "403"} <= statuses, name
        else:
            assert not {"401", "403"} & statuses, name


def test_idempotent_writes_take_an_idempotency_key_and_document_its_refusals(schema):
    idempotent = 0
    for name, operation in _operations(schema):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if name.startswith("POST "):
            idempotent += 1
            assert "Idempotency-Key" in headers, name
            responses = operation["responses"]
            assert "idempotency_in_flight" in responses["409"]["description"], name
            assert "idempotency_key_reused" in responses["422"]["description"], name
        else:
            assert "Idempotency-Key" not in headers, name
    assert idempotent >= 13


def test_the_problem_schema_describes_real_problem_documents(schema, partner_api):
    """A real 404 and a real 400 from the server validate against the component."""
    problem_schema = {**schema["components"]["schemas"][PROBLEM]}
    not_found = partner_api.get("/api/v1/referrals/ref_missing")
    invalid = partner_api.post("/api/v1/referrals", {"customer_id": 7}, format="json")
    for response in (not_found, invalid):
        assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
        jsonschema.validate(response.json(), problem_schema)
    assert invalid.json()["errors"]


def test_the_schema_states_the_string_and_list_rules_validation_applies(schema):
    """Found by schema fuzzing: what DRF refuses beyond a field's own validators is in the
    schema too, so a generated client never sends it."""
    schemas = schema["components"]["schemas"]
    customer_id = schemas["ReferralCreateInput"]["properties"]["customer_id"]
    assert customer_id["minLength"] == 1 and customer_id["pattern"]  # no blank, no NUL
    note = schemas["ReferralCreateInput"]["properties"]["note"]
    assert "minLength" not in note and note["pattern"] == "^[^\\u0000]*$"  # blank allowed
    slug = schemas["RegistrationInput"]["properties"]["slug"]
    assert slug["pattern"] == "^[-a-zA-Z0-9_]+$"  # the field's own pattern is kept
    items = schemas["ActivitiesInput"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 500)
    money = schemas["MoneyInput"]["properties"]
    assert money["currency"]["allOf"] == [{"$ref": "#/components/schemas/CurrencyEnum"}]
    assert "EUR" in schemas["CurrencyEnum"]["enum"] and money["amount"]["pattern"]
    output = schemas["ReferralOutput"]["properties"]
    assert not any("pattern" in field for field in output.values())  # outputs as they are


def test_a_new_route_inherits_the_contract_from_its_traits():
    class WidgetActApi(IdempotentMixin, APIView):
        required_scopes = ["partner:read"]

        def post(self, request, widget_id):
            """Act on a widget."""
            return Response({})

    patterns = [path("api/v1/widgets/<str:widget_id>/act", WidgetActApi.as_view())]
    operation = SchemaGenerator(patterns=patterns).get_schema(public=True)["paths"][
        "/api/v1/widgets/{widget_id}/act"
    ]["post"]
    assert operation["description"] == "Act on a widget."
    assert set(operation["responses"]) >= {"400", "401", "403", "404", "409", "422", "429", "503"}
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])


def test_a_view_without_a_docstring_shows_no_mixins_internals():
    class BareApi(IdempotentMixin, APIView):
        required_scopes = ["partner:read"]

        def post(self, request):
            return Response({})

    patterns = [path("api/v1/bare", BareApi.as_view())]
    operation = SchemaGenerator(patterns=patterns).get_schema(public=True)["paths"]["/api/v1/bare"][
        "post"
    ]
    assert "description" not in operation


# --- Inventory (OWASP API9) -----------------------------------------------------------------

# Routes that are not the partner API, each with why it is not in the OpenAPI schema.
NON_API_ROUTES = {
    "admin/": "the ecosystem admins' Django admin (staff sessions, CSRF), not a partner API",
    "partner-admin/": "the partner console, an AdminSite for partner staff (sessions)",
    "o/": "the OAuth 2 server (RFC 6749 token, 7662 introspection, 7009 revocation), "
    "described by /.well-known/oauth-authorization-server",
    ".well-known/": "discovery documents (RFC 8414 metadata, the receipt-signing JWKS)",
    "healthz": "liveness probe for the load balancer",
    "readyz": "readiness probe for the load balancer",
    "metrics": "Prometheus scrape endpoint for operators (METRICS_TOKEN or an allow-listed "
    "network), not a partner API",
    "api/schema/": "the schema itself",
    "api/docs/": "the schema's documentation page",
    "partners/apply/": "the public HTML application form (the API's twin is "
    "POST /api/v1/partner-registrations)",
    "portal:": "the customer portal's HTML pages (customer sessions)",
    "bench/": "no-op views for bench/ (BENCHMARK_VIEWS=1 only; off in production, below)",
}


def _routes(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace


def _as_schema_path(route: str) -> str:
    import re

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_route_is_in_the_schema_or_a_listed_non_api_route(schema):
    documented = set(schema["paths"])
    unlisted = []
    for route, namespace in _routes(get_resolver().url_patterns):
        if route.startswith("api/v1/"):
            if _as_schema_path(route) not in documented:
                unlisted.append(f"{route} (under /api/v1/ but not in the schema)")
        elif not any(route.startswith(p) or namespace.startswith(p) for p in NON_API_ROUTES):
            unlisted.append(route)
    assert unlisted == [], "add the route to the schema or to NON_API_ROUTES with a reason"


def test_every_schema_path_is_a_route(schema):
    routes = {_as_schema_path(route) for route, _ in _routes(get_resolver().url_patterns)}
    assert set(schema["paths"]) - routes == set()


def _bench_routes_under_production_settings(**extra: str) -> dict:
    """Which /bench/ routes resolve in a fresh process (settings are read once, from the
    environment) with production settings: DEBUG off and real-looking keys."""
    probe = (
        "import django, json; django.setup();"
        "from django.urls import Resolver404, resolve; from django.conf import settings\n"
        "def reachable(p):\n"
        "    try:\n        resolve(p); return True\n"
        "    except Resolver404:\n        return False\n"
        "print(json.dumps({'debug': settings.DEBUG, 'bench': settings.BENCHMARK_VIEWS,"
        " 'reachable': [p for p in ('/bench/noop', '/bench/auth-noop', '/bench/write') "
        "if reachable(p)]}))"
    )

    def key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DEBUG", "BENCHMARK_VIEWS", "DATABASE_URL", "CACHE_URL"}
    }
    environment.update(
        DEBUG="0",
        DJANGO_SETTINGS_MODULE="ecosystem.settings",
        SECRET_KEY=key() + key(),
        ALLOWED_HOSTS="gateway.example.com",
        SITE_URL="https://gateway.example.com",
        FIELD_ENCRYPTION_KEYS=f"k1:{key()}",
        BLIND_INDEX_KEY=f"b1:{key()}",
        RECEIPT_SIGNING_KEY=f"r1:{key()}",
        # The connect flow's ID-token key (docs/connect.md), required without DEBUG.
        OIDC_RSA_PRIVATE_KEY=(
            Path(__file__).resolve().parents[2] / "ecosystem" / "dev_keys" / "oidc-dev.pem"
        ).read_text(),
        **extra,
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout.strip().splitlines()[-1])


def test_benchmark_views_are_unreachable_with_production_settings():
    assert _bench_routes_under_production_settings() == {
        "debug": False,
        "bench": False,
        "reachable": [],
    }


def test_benchmark_views_are_mounted_only_when_asked_for():
    """The probe above can see them: bench/harness.py turns them on for its measurements."""
    answer = _bench_routes_under_production_settings(BENCHMARK_VIEWS="1")
    assert answer["debug"] is False and answer["reachable"]
