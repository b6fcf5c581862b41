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
