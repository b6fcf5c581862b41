"""Request ids: every response carries ``Request-Id``; logs and problem documents repeat it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar

from django.http import Http404, HttpRequest, HttpResponse

from ecosystem.ids import new_id

_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdMiddleware:
    """Assigns each request a fresh id. A client-sent id is not trusted (it could forge log
    lines), so the gateway always mints its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_id("req")
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["Request-Id"] = request_id
        return response


class RateLimitHeadersMiddleware:
    """Adds ``RateLimit-*`` headers when a throttle counted the request (see ratelimit.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        window = getattr(request, "ratelimit", None)
        if window is not None:
            for name, value in window.headers().items():
                response[name] = value
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class NulInPathMiddleware:
    """A path with a NUL byte names nothing here: 404 before any view looks it up (PostgreSQL
    text cannot hold NUL, so a lookup would fail with a 500 rather than find nothing)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            raise Http404("No such path.")
        return self.get_response(request)


class PrivateResponsesMiddleware:
    """``Cache-Control: no-store`` on every answer a shared or browser cache must not keep:
    the API's (webhook secrets at create and rotate, customers' data in referrals, consent
    records: one rule rather than a list to forget a route from), the OAuth endpoints', and
    every page shown to someone signed in (portal, console, admin). A view that chose its own
    caching (a public key, the health checks) keeps it. The login pages are covered by
    Django's never_cache where they use it."""

    PRIVATE_PREFIXES = ("/api/v1/", "/o/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        user = getattr(request, "user", None)
        if request.path.startswith(self.PRIVATE_PREFIXES) or getattr(
            user, "is_authenticated", False
        ):
            response["Cache-Control"] = "no-store"
        return response
