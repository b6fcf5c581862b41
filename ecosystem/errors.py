"""Domain errors and their one mapping to ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
import redis
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from rest_framework import exceptions as drf
from rest_framework.response import Response

from ecosystem.middleware import current_request_id

logger = logging.getLogger(__name__)
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:ecosystem-gateway:problem:"
# What an outage answers in Retry-After: seconds, and the portal page says "in a minute".
OUTAGE_RETRY_AFTER_SECONDS = 60


class ApplicationError(Exception):
    """A rule a service refused to break. ``code`` is stable: clients branch on it."""

    status = 400
    code = "invalid_request"
    title = "The request cannot be carried out."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.code = code or self.code
        self.status = status or self.status
        self.extra = extra or {}
        super().__init__(self.detail)


class NotFoundError(ApplicationError):
    status = 404
    code = "not_found"
    title = "No such resource."


class ConflictError(ApplicationError):
    status = 409
    code = "conflict"
    title = "The resource is not in a state that allows this."


class ForbiddenError(ApplicationError):
    status = 403
    code = "forbidden"
    title = "This action is not allowed."


class RateLimitedError(ApplicationError):
    status = 429
    code = "rate_limited"
    title = "Too many requests."


class ServiceUnavailableError(ApplicationError):
    status = 503
    code = "service_unavailable"
    title = "The gateway cannot reach a service it depends on."


# --- Outages --------------------------------------------------------------------------------
# The database or the cache being unreachable is not a bug: it answers 503 with Retry-After,
# problem+json on the API and /o/, a calm page elsewhere. Only connection failures count; a
# query error (a missing table, a constraint) stays a 500 and is logged as one.

# SQLSTATE classes of an unavailable PostgreSQL: connection exception, operator intervention
# (shutdown, cannot connect now), insufficient resources (too many connections).
_PG_UNAVAILABLE_STATES = ("08", "57P", "53")
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")


def _is_outage_cause(exc: BaseException) -> bool:
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state.startswith(_PG_UNAVAILABLE_STATES)
    if isinstance(exc, psycopg.InterfaceError):
        return True  # the connection is closed or broken
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc).lower().startswith(_SQLITE_UNAVAILABLE)
    return False


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it was raised from) is the database or the cache being
    unreachable, as opposed to a bug."""
    seen = 0
    while exc is not None and seen < 10:
        if _is_outage_cause(exc):
            return True
        if isinstance(exc, DjangoInterfaceError):
            return True
        if isinstance(exc, DjangoOperationalError) and exc.__cause__ is None:
            return False  # raised by Django itself, not by a driver
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _outage_problem(exc: BaseException) -> tuple[dict[str, Any], dict[str, str]]:
    logger.warning("dependency outage: %s", type(exc).__name__)
    error = ServiceUnavailableError(
        f"Try again in {OUTAGE_RETRY_AFTER_SECONDS} seconds. Retry a POST with the same "
        "Idempotency-Key: it is carried out at most once."
    )
    body = problem(status=error.status, code=error.code, title=error.title, detail=error.detail)
    return body, {"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)}


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/o/"))


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """503 for an outage: problem+json on the API and /o/, the calm page anywhere else. The
    page is rendered without the request: its context (user, messages) would need the very
    database or cache that is down."""
    body, headers = _outage_problem(exc)
    if is_api_request(request):
        response: HttpResponse = JsonResponse(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
    else:
        page = loader.render_to_string("503.html", {"request_id": body["instance"]})
        response = HttpResponse(page, status=503)
    for name, value in headers.items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


class OutageMiddleware:
    """Answers an outage raised by a view that DRF does not handle (the token endpoint, the
    portal, the admin sites and console) with ``outage_response``. Outages in DRF views go
    through ``problem_exception_handler``; handler500 catches those raised in other
    middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        return outage_response(request, exc) if is_outage(exc) else None


def problem(*, status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": current_request_id(),
        **extra,
    }


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested error detail into ``[{field, message, code}]``."""
    errors: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for name, value in detail.items():
            field = name if name != "non_field_errors" else ""
            errors += _field_errors(
                value, f"{prefix}.{field}" if prefix and field else prefix or field
            )
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            errors += _field_errors(value, f"{prefix}[{index}]" if nested else prefix)
    else:
        errors.append(
            {"field": prefix, "message": str(detail), "code": getattr(detail, "code", "invalid")}
        )
    return errors


_DRF_CODES: dict[type[drf.APIException], tuple[str, str]] = {
    drf.NotAuthenticated: ("not_authenticated", "Authentication is required."),
    drf.AuthenticationFailed: ("authentication_failed", "Authentication failed."),
    drf.PermissionDenied: ("permission_denied", "You may not do this."),
    drf.NotFound: ("not_found", "No such resource."),
    drf.MethodNotAllowed: ("method_not_allowed", "Method not allowed."),
    drf.NotAcceptable: ("not_acceptable", "Cannot produce an acceptable response."),
    drf.UnsupportedMediaType: ("unsupported_media_type", "Send JSON (application/json)."),
    drf.ParseError: ("malformed_request", "The request body could not be parsed."),
    drf.Throttled: ("rate_limited", "Too many requests."),
}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves as problem+json with a stable code."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    if isinstance(exc, ApplicationError):
        body = problem(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra
        )
        if isinstance(exc, RateLimitedError) and "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return Response(body, status=exc.status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)

    if is_outage(exc):
        body, headers = _outage_problem(exc)
        return Response(body, status=503, headers=headers, content_type=PROBLEM_CONTENT_TYPE)

    if not isinstance(exc, drf.APIException):
        return None  # a bug: Django's 500 handler answers, and the error is logged.

    if isinstance(exc, drf.ValidationError):
        body = problem(
            status=400,
            code="validation_error",
            title="The request has invalid fields.",
            detail="Correct the fields listed in errors and try again.",
            errors=_field_errors(exc.detail),
        )
        return Response(body, status=400, content_type=PROBLEM_CONTENT_TYPE)

    code, title = next(
        (pair for cls, pair in _DRF_CODES.items() if isinstance(exc, cls)),
        (str(exc.default_code), "The request failed."),
    )
    explicit_code = getattr(exc.detail, "code", None)
    if explicit_code and explicit_code not in {exc.default_code, "invalid"}:
        code = str(explicit_code)
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    body = problem(status=exc.status_code, code=code, title=title, detail=str(exc.detail))
    return Response(
        body, status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def problem_response(
    request: HttpRequest, *, status: int, code: str, title: str, detail: str
) -> JsonResponse:
    """The same document for errors raised outside DRF (unknown /api/ URLs, 500s)."""
    return JsonResponse(
        problem(status=status, code=code, title=title, detail=detail),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )
