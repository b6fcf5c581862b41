"""The OpenAPI schema says what the server does for the contract changes of issue 15."""

from __future__ import annotations

import pytest


@pytest.fixture
def schema(db, client):
    return client.get("/api/schema/?format=json").json()


LISTS = [
    ("/api/v1/referrals", "get"),
    ("/api/v1/partnerships", "get"),
    ("/api/v1/customers/{customer_id}/consents", "get"),
    ("/api/v1/webhook-endpoints", "get"),
    ("/api/v1/webhook-deliveries", "get"),
    ("/api/v1/events", "get"),
]


@pytest.mark.parametrize(("path", "method"), LISTS)
def test_every_list_documents_its_cursor_and_bounded_limit(schema, path, method):
    parameters = {p["name"]: p for p in schema["paths"][path][method]["parameters"]}
    assert "cursor" in parameters
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}


def test_registrations_answer_202_received(schema):
    operation = schema["paths"]["/api/v1/partner-registrations"]["post"]
    assert {status for status in operation["responses"] if status < "400"} == {"202"}
    schemas = schema["components"]["schemas"]
    assert "id" not in schemas["RegistrationOutput"]["properties"]
    assert schemas["RegistrationOutputStatusEnum"]["enum"] == ["received"]


def test_customer_links_document_customer_already_linked(schema):
    operation = schema["paths"]["/api/v1/customer-links"]["post"]
    assert "409" in operation["responses"]
    assert "customer_already_linked" in operation["responses"]["409"]["description"]


def test_referrals_document_link_pending(schema):
    assert "link_pending" in schema["paths"]["/api/v1/referrals"]["post"]["description"]
