"""Domain errors and their one mapping to ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from ecosystem.middleware import current_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:ecosystem-gateway:problem:"


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
