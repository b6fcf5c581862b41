"""The OpenAPI schema as a contract, derived from what each view declares.

``GatewayAutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to every operation
what the gateway answers whatever the view: the error statuses its traits make possible, each
with the one shared ``Problem`` body (``application/problem+json``), the ``Idempotency-Key``
request header on idempotent writes, and the ``Request-Id``, ``RateLimit-*`` and
``Retry-After`` response headers. A new route inherits all of it; a view only declares what
is its own (its success body, the domain refusals it can answer, its description).

Which trait makes which status possible:

- any operation: 503 (a dependency outage);
- a request body or query parameters: 400 (validation_error, malformed_request); a request
  body: 415 (unsupported_media_type);
- authentication classes: 401; ``required_scopes``: 403 (insufficient_scope);
- a path parameter (an object lookup): 404;
- ``IdempotentMixin`` (on POST): 400 idempotency_key_invalid, 409 idempotency_in_flight,
  422 idempotency_key_reused;
- throttle classes: 429 with ``Retry-After``.

A view adds a domain refusal with ``extend_schema(responses={409: OpenApiResponse(
description="duplicate_referral: ...")})``: the body becomes ``Problem`` (or, when the view
gives a serializer of extra members, ``Problem`` and those members), and the description
leads the generic one.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, get_doc
from rest_framework import serializers

from ecosystem.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from ecosystem.api.idempotency import IdempotentMixin
from ecosystem.errors import PROBLEM_CONTENT_TYPE
from ecosystem.services.idempotency import MAX_KEY_LENGTH

PROBLEM = "Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "An error, as RFC 9457 problem details. Branch on `code`: it is stable. Some codes "
        "carry members of their own (named in the operation's description)."
    ),
    "properties": {
        "type": {"type": "string", "description": "urn:ecosystem-gateway:problem:<code>"},
        "title": {"type": "string", "description": "A short summary of the kind of problem."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "code": {"type": "string", "description": "Stable machine-readable code."},
        "instance": {
            "type": "string",
            "description": "The request id (also the Request-Id header): quote it to support.",
        },
        "errors": {
            "type": "array",
            "description": "validation_error only: one entry per invalid field.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "description": "Dotted path; empty: the body."},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["field", "message", "code"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code", "instance"],
}

# What each status means whatever the route; a view's own description of a status comes first.
GENERIC: dict[int, str] = {
    400: "validation_error (errors lists each field) or malformed_request (the body is not JSON).",
    401: "not_authenticated (no bearer token), invalid_token (unknown, expired or revoked) or "
    "partner_inactive (your partner is suspended or offboarded).",
    403: "insufficient_scope: the token lacks a scope this operation needs.",
    404: "not_found: no such object among yours. Another partner's object answers the same.",
    415: "unsupported_media_type: send the body as application/json.",
    429: "rate_limited: too many requests from this client; wait Retry-After seconds.",
    503: "service_unavailable: a service the gateway depends on is unreachable; retry after "
    "Retry-After seconds (a POST with the same Idempotency-Key is carried out at most once).",
}
IDEMPOTENCY: dict[int, str] = {
    400: "idempotency_key_invalid: the Idempotency-Key header is empty, too long or not printable.",
    409: "idempotency_in_flight: a request with this Idempotency-Key is still being processed.",
    422: "idempotency_key_reused: this Idempotency-Key was used with a different body.",
}

REQUEST_ID_HEADER = {
    "description": "This request's id, also the instance of a problem: quote it to support.",
    "required": True,
    "schema": {"type": "string", "pattern": "^req_"},
}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "Requests allowed per window.",
    "RateLimit-Remaining": "Requests left in the current window.",
    "RateLimit-Reset": "Seconds until the window resets.",
}
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "schema": {"type": "string", "pattern": f"^[\\x20-\\x7e]{{1,{MAX_KEY_LENGTH}}}$"},
    "description": (
        "A unique key per intended request (a UUID). A retry with the same key and body gets "
        "the first response again (with Idempotent-Replayed: true), for 24 hours; the same "
        "key with another body is 422, and while the first is still running, 409. Keys are "
        "scoped to your client and this path."
    ),
}
# DRF's CharField refuses NUL characters, and a blank value (after trimming) unless allowed.
NO_NUL = "^[^\\u0000]*$"
NO_NUL_NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


class GatewayAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the gateway's contract (see the module docstring)."""

    def get_description(self) -> str:  # type: ignore[override]
        # inspect.getdoc inherits docstrings: a view without one of its own would show its
        # mixin's (IdempotentMixin's) internals to partners. Only the view's own text counts.
        action = getattr(self.view, self.method.lower(), None)
        if getattr(action, "__doc__", None):
            return get_doc(action)
        return get_doc(type(self.view)) if type(self.view).__dict__.get("__doc__") else ""

    def get_operation(self, path, path_regex, path_prefix, method, registry):  # type: ignore[override]
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        registry.register_on_missing(
            ResolvedComponent(
                name=PROBLEM,
                type=ResolvedComponent.SCHEMA,
                object=PROBLEM,
                schema=PROBLEM_SCHEMA,
            )
        )
        if self._is_idempotent():
            operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_PARAMETER))
        operation["responses"] = self._with_errors(operation)
        return operation

    def _map_serializer_field(self, field, direction, bypass_extensions=False):  # type: ignore[override]
        # drf-spectacular leaves a list's allow_empty=False, and a nested many=True
        # serializer's min_length and max_length, out of the schema: a fuzzer (or a partner's
        # generated client) would send [] and be refused.
        self._direction = direction  # for _insert_field_validators, which runs next
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema is None:
            return None
        if schema.get("type") == "array" and isinstance(
            field, serializers.ListSerializer | serializers.ListField
        ):
            minimum = max(getattr(field, "min_length", None) or 0, 0 if field.allow_empty else 1)
            if minimum:
                schema["minItems"] = max(schema.get("minItems", 0), minimum)
            if getattr(field, "max_length", None) is not None and "maxItems" not in schema:
                schema["maxItems"] = field.max_length
        return schema

    def _insert_field_validators(self, field, schema):  # type: ignore[override]
        # After the field's own validators (a slug's or a regex field's pattern, an email's
        # format): what DRF's CharField refuses beyond them, blank and NUL characters.
        super()._insert_field_validators(field, schema)
        if getattr(self, "_direction", None) != "request":
            return  # what the gateway sends is described as it is, not as input rules
        if schema.get("type") != "string" or not isinstance(field, serializers.CharField):
            return
        if isinstance(field, serializers.ChoiceField) or "enum" in schema:
            return
        if not field.allow_blank:
            schema["minLength"] = max(schema.get("minLength", 0), 1)
        if "pattern" in schema or "format" in schema:
            return
        if not field.allow_blank and field.trim_whitespace:
            schema["pattern"] = NO_NUL_NOT_BLANK
        else:
            schema["pattern"] = NO_NUL

    # --- traits -----------------------------------------------------------------------------

    def _is_idempotent(self) -> bool:
        return self.method == "POST" and isinstance(self.view, IdempotentMixin)

    def _is_throttled(self) -> bool:
        return bool(self.view.get_throttles())

    def _error_statuses(self, operation: dict[str, Any]) -> dict[int, list[str]]:
        statuses: dict[int, list[str]] = {503: []}
        parameters = operation.get("parameters", [])
        has_query = any(p["in"] == "query" for p in parameters)
        if "requestBody" in operation or has_query:
            statuses[400] = []
        if "requestBody" in operation:
            statuses[415] = []
        if self.view.get_authenticators():
            statuses[401] = []
        if getattr(self.view, "required_scopes", None):
            statuses[403] = []
        if any(p["in"] == "path" for p in parameters):
            statuses[404] = []
        if self._is_idempotent():
            for status, text in IDEMPOTENCY.items():
                statuses.setdefault(status, []).append(text)
        if self._is_throttled():
            statuses[429] = []
        return statuses

    # --- responses --------------------------------------------------------------------------

    def _headers(self, status: int) -> dict[str, Any]:
        headers: dict[str, Any] = {"Request-Id": REQUEST_ID_HEADER}
        if self._is_throttled():
            for name, text in RATE_LIMIT_HEADERS.items():
                headers[name] = {
                    "description": f"{text} Absent when the request was refused before it "
                    "was counted (401, 403).",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                }
        if status in (429, 503):
            headers["Retry-After"] = RETRY_AFTER_HEADER
        return headers

    def _with_errors(self, operation: dict[str, Any]) -> dict[str, Any]:
        declared: dict[str, Any] = operation["responses"]
        statuses = self._error_statuses(operation)
        for code in declared:
            if int(code) >= 400:
                statuses.setdefault(int(code), [])
        responses: dict[str, Any] = {}
        for code, response in declared.items():
            if int(code) < 400:
                responses[code] = {**response, "headers": self._headers(int(code))}
        for status in sorted(statuses):
            own = declared.get(str(status), {})
            body: dict[str, Any] = {"$ref": f"#/components/schemas/{PROBLEM}"}
            for media in (own.get("content") or {}).values():
                if media.get("schema"):  # members of the view's own, beside the shared ones
                    body = {"allOf": [body, media["schema"]]}
                    break
            parts = [own.get("description") or "", *statuses[status], GENERIC.get(status, "")]
            responses[str(status)] = {
                "description": " ".join(part for part in parts if part) or "Refused: see code.",
                "headers": self._headers(status),
                "content": {PROBLEM_CONTENT_TYPE: {"schema": body}},
            }
        return responses
